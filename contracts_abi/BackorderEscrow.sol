// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @notice Chainalysis-style sanctions oracle.
interface ISanctionsList {
    function isSanctioned(address addr) external view returns (bool);
}

/// @title BackorderEscrow
/// @notice Holds backorder deposits per order reference until the merchant fulfils (capture to the payout
///         address), refunds (void to the payer) or the payer reclaims after the hold expiry.
/// @dev One deployment per merchant. Deposits require a quote signed by the operator (EIP-712) that binds
///      the order ref, the payer (msg.sender), the token, the exact amount, the quote deadline and the hold
///      expiry. Payouts that cannot be pushed become withdrawable credits so that no order gets stuck.
contract BackorderEscrow is Ownable2Step, EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    enum State {
        None,
        Held,
        Captured,
        Voided,
        Reclaimed
    }

    struct Escrow {
        address payer;
        uint64 holdUntil;
        State state;
        address token;
        uint256 amount;
    }

    bytes32 public constant QUOTE_TYPEHASH = keccak256(
        "Quote(bytes32 orderRef,address payer,address token,uint256 amount,uint64 deadline,uint64 holdUntil)"
    );

    /// @notice Optional sanctions oracle; address(0) disables screening. Immutable per deployment.
    ISanctionsList public immutable sanctionsOracle;

    address public operator;
    address public payout;
    mapping(address token => bool allowed) public tokenAllowed;
    /// @notice Payouts that could not be pushed, withdrawable by their recipient.
    mapping(address account => mapping(address token => uint256 amount)) public credits;

    mapping(bytes32 orderRef => Escrow) private _escrows;

    event Deposited(
        bytes32 indexed orderRef, address indexed payer, address indexed token, uint256 amount, uint64 holdUntil
    );
    event Captured(bytes32 indexed orderRef, address to, uint256 amount);
    event Voided(bytes32 indexed orderRef, address to, uint256 amount);
    event Reclaimed(bytes32 indexed orderRef, address to, uint256 amount);
    event Credited(bytes32 indexed orderRef, address indexed to, address indexed token, uint256 amount);
    event Withdrawn(address indexed to, address indexed token, uint256 amount);
    event OperatorChanged(address indexed operator);
    event PayoutChanged(address indexed payout);
    event TokenAllowed(address indexed token, bool allowed);

    error ZeroAddress();
    error NotOperator();
    error NotPayer();
    error QuoteExpired();
    error InvalidHoldExpiry();
    error InvalidSignature();
    error OrderRefUsed();
    error WrongAmount();
    error TokenNotAllowed(address token);
    error NotHeld();
    error HoldExpired();
    error HoldNotExpired();
    error Sanctioned(address party);
    error NothingToWithdraw();
    error NativeTransferFailed();

    modifier onlyOperator() {
        if (msg.sender != operator) revert NotOperator();
        _;
    }

    constructor(
        address owner_,
        address operator_,
        address payout_,
        address sanctionsOracle_,
        address[] memory tokens
    ) Ownable(owner_) EIP712("BackorderEscrow", "1") {
        if (operator_ == address(0) || payout_ == address(0)) revert ZeroAddress();
        operator = operator_;
        payout = payout_;
        sanctionsOracle = ISanctionsList(sanctionsOracle_);
        for (uint256 i = 0; i < tokens.length; ++i) {
            if (tokens[i] == address(0)) revert ZeroAddress();
            tokenAllowed[tokens[i]] = true;
            emit TokenAllowed(tokens[i], true);
        }
        emit OperatorChanged(operator_);
        emit PayoutChanged(payout_);
    }

    // ---------------------------------------------------------------- deposits

    /// @notice Deposit the native coin for `orderRef`; `msg.value` must equal the quoted amount.
    function deposit(bytes32 orderRef, uint256 amount, uint64 deadline, uint64 holdUntil, bytes calldata signature)
        external
        payable
        nonReentrant
    {
        if (msg.value != amount) revert WrongAmount();
        _open(orderRef, address(0), amount, deadline, holdUntil, signature);
    }

    /// @notice Deposit an allow-listed ERC-20 for `orderRef` (approve the exact amount first).
    /// @dev The balance delta must equal `amount`, which rejects fee-on-transfer tokens.
    function depositToken(
        bytes32 orderRef,
        address token,
        uint256 amount,
        uint64 deadline,
        uint64 holdUntil,
        bytes calldata signature
    ) external nonReentrant {
        if (token == address(0) || !tokenAllowed[token]) revert TokenNotAllowed(token);
        _open(orderRef, token, amount, deadline, holdUntil, signature);
        uint256 before = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
        if (IERC20(token).balanceOf(address(this)) - before != amount) revert WrongAmount();
    }

    function _open(
        bytes32 orderRef,
        address token,
        uint256 amount,
        uint64 deadline,
        uint64 holdUntil,
        bytes calldata signature
    ) private {
        if (block.timestamp > deadline) revert QuoteExpired();
        if (holdUntil <= block.timestamp) revert InvalidHoldExpiry();
        if (amount == 0) revert WrongAmount();
        if (_escrows[orderRef].state != State.None) revert OrderRefUsed();
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(QUOTE_TYPEHASH, orderRef, msg.sender, token, amount, deadline, holdUntil))
        );
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        if (err != ECDSA.RecoverError.NoError || signer != operator) revert InvalidSignature();
        _escrows[orderRef] =
            Escrow({payer: msg.sender, holdUntil: holdUntil, state: State.Held, token: token, amount: amount});
        emit Deposited(orderRef, msg.sender, token, amount, holdUntil);
    }

    // ----------------------------------------------------------------- payouts

    /// @notice Pay a held deposit to the owner-set payout address. Operator only, before the hold expiry.
    function capture(bytes32 orderRef) external onlyOperator nonReentrant {
        Escrow storage e = _held(orderRef);
        if (block.timestamp >= e.holdUntil) revert HoldExpired();
        _screen(e.payer);
        address to = payout;
        _screen(to);
        e.state = State.Captured;
        emit Captured(orderRef, to, e.amount);
        _pay(orderRef, e.token, to, e.amount);
    }

    /// @notice Return a held deposit to its payer. Operator only, any time.
    function void(bytes32 orderRef) external onlyOperator nonReentrant {
        Escrow storage e = _held(orderRef);
        _screen(e.payer);
        e.state = State.Voided;
        emit Voided(orderRef, e.payer, e.amount);
        _pay(orderRef, e.token, e.payer, e.amount);
    }

    /// @notice The payer takes a held deposit back at or after the hold expiry.
    function reclaim(bytes32 orderRef) external nonReentrant {
        Escrow storage e = _held(orderRef);
        if (msg.sender != e.payer) revert NotPayer();
        if (block.timestamp < e.holdUntil) revert HoldNotExpired();
        _screen(e.payer);
        e.state = State.Reclaimed;
        emit Reclaimed(orderRef, e.payer, e.amount);
        _pay(orderRef, e.token, e.payer, e.amount);
    }

    /// @notice Withdraw a credit left by a payout that could not be pushed.
    function withdraw(address token) external nonReentrant {
        uint256 amount = credits[msg.sender][token];
        if (amount == 0) revert NothingToWithdraw();
        _screen(msg.sender);
        credits[msg.sender][token] = 0;
        emit Withdrawn(msg.sender, token, amount);
        if (token == address(0)) {
            (bool ok,) = msg.sender.call{value: amount}("");
            if (!ok) revert NativeTransferFailed();
        } else {
            IERC20(token).safeTransfer(msg.sender, amount);
        }
    }

    /// @notice The escrow of `orderRef`. state: 0 none, 1 held, 2 captured, 3 voided, 4 reclaimed.
    function escrowOf(bytes32 orderRef)
        external
        view
        returns (address payer, address token, uint256 amount, uint64 holdUntil, uint8 state)
    {
        Escrow storage e = _escrows[orderRef];
        return (e.payer, e.token, e.amount, e.holdUntil, uint8(e.state));
    }

    /// @notice The EIP-712 digest the operator signs for a quote (for off-chain tooling and audits).
    function quoteDigest(
        bytes32 orderRef,
        address payer,
        address token,
        uint256 amount,
        uint64 deadline,
        uint64 holdUntil
    ) external view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(QUOTE_TYPEHASH, orderRef, payer, token, amount, deadline, holdUntil))
        );
    }

    // ------------------------------------------------------------------- admin

    function setOperator(address operator_) external onlyOwner {
        if (operator_ == address(0)) revert ZeroAddress();
        operator = operator_;
        emit OperatorChanged(operator_);
    }

    function setPayout(address payout_) external onlyOwner {
        if (payout_ == address(0)) revert ZeroAddress();
        payout = payout_;
        emit PayoutChanged(payout_);
    }

    function setTokenAllowed(address token, bool allowed) external onlyOwner {
        if (token == address(0)) revert ZeroAddress();
        tokenAllowed[token] = allowed;
        emit TokenAllowed(token, allowed);
    }

    // ---------------------------------------------------------------- internal

    function _held(bytes32 orderRef) private view returns (Escrow storage e) {
        e = _escrows[orderRef];
        if (e.state != State.Held) revert NotHeld();
    }

    function _screen(address party) private view {
        if (address(sanctionsOracle) != address(0) && sanctionsOracle.isSanctioned(party)) {
            revert Sanctioned(party);
        }
    }

    /// @dev Push the payout; if the receiver cannot take it, leave a withdrawable credit instead.
    function _pay(bytes32 orderRef, address token, address to, uint256 amount) private {
        bool ok;
        if (token == address(0)) {
            (ok,) = to.call{value: amount, gas: 50_000}("");
        } else {
            ok = IERC20(token).trySafeTransfer(to, amount);
        }
        if (!ok) {
            credits[to][token] += amount;
            emit Credited(orderRef, to, token, amount);
        }
    }
}
