// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

interface IEscrow {
    function deposit(bytes32 orderRef, uint256 amount, uint64 deadline, uint64 holdUntil, bytes calldata signature)
        external
        payable;
    function reclaim(bytes32 orderRef) external;
    function withdraw(address token) external;
}

/// @notice A payer that refuses plain ETH transfers until told otherwise, to test payout credits.
contract RejectingReceiver {
    bool public accepting;

    function setAccepting(bool accepting_) external {
        accepting = accepting_;
    }

    function pay(
        IEscrow escrow,
        bytes32 orderRef,
        uint256 amount,
        uint64 deadline,
        uint64 holdUntil,
        bytes calldata signature
    ) external payable {
        escrow.deposit{value: amount}(orderRef, amount, deadline, holdUntil, signature);
    }

    function withdrawFrom(IEscrow escrow) external {
        escrow.withdraw(address(0));
    }

    receive() external payable {
        require(accepting, "not accepting");
    }
}
