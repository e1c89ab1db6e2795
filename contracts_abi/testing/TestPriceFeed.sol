// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @notice A settable feed with Chainlink's AggregatorV3 interface, for local chains and tests.
contract TestPriceFeed {
    uint8 public immutable decimals;
    string public description;
    uint256 public constant version = 4;
    int256 private _answer;
    uint256 private _updatedAt;
    uint80 private _roundId;

    constructor(uint8 decimals_, string memory description_, int256 answer_) {
        decimals = decimals_;
        description = description_;
        setAnswer(answer_);
    }

    function setAnswer(int256 answer_) public {
        _setRound(answer_, block.timestamp);
    }

    function setRound(int256 answer_, uint256 updatedAt_) external {
        _setRound(answer_, updatedAt_);
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return (_roundId, _answer, _updatedAt, _updatedAt, _roundId);
    }

    function _setRound(int256 answer_, uint256 updatedAt_) private {
        _roundId += 1;
        _answer = answer_;
        _updatedAt = updatedAt_;
    }
}
