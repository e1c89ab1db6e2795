"""One client object for every chain: the embedded EVM, anvil, Sepolia or mainnet.

It wraps a :class:`web3.Web3` whose provider counts requests (the watcher's budget is measured with it) and
retries idempotent calls on transport faults (timeouts, refused connections, HTTP 429/5xx) with backoff.
Reverts from either backend are decoded into :class:`ContractRevert` by :func:`decode_revert`.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import requests
from web3 import HTTPProvider, Web3
from web3.providers.rpc.utils import ExceptionRetryConfiguration
from web3.types import RPCEndpoint

#: Calls safe to repeat blindly. A raw transaction re-sent has the same hash: a no-op for the node.
RETRY_METHODS = [
    "eth_chainId",
    "eth_blockNumber",
    "eth_getBlockByNumber",
    "eth_getBlockByHash",
    "eth_getLogs",
    "eth_call",
    "eth_getTransactionReceipt",
    "eth_getTransactionByHash",
    "eth_getTransactionCount",
    "eth_estimateGas",
    "eth_gasPrice",
    "eth_maxPriorityFeePerGas",
    "eth_feeHistory",
    "eth_getBalance",
    "eth_getCode",
    "eth_sendRawTransaction",
]


class RequestCounter:
    """Counts JSON-RPC requests by method (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_method: Counter[str] = Counter()

    def add(self, method: str) -> None:
        with self._lock:
            self.by_method[method] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.by_method.values())

    def reset(self) -> None:
        with self._lock:
            self.by_method.clear()


class CountingHTTPProvider(HTTPProvider):
    """An HTTP provider that counts the requests it sends."""

    def __init__(self, endpoint_uri: str, counter: RequestCounter, **kwargs: Any) -> None:
        super().__init__(endpoint_uri, **kwargs)
        self.counter = counter

    def _make_request(self, method: RPCEndpoint, request_data: bytes) -> bytes:
        # Below web3's request cache: only what goes over the wire is counted (a retried call counts once).
        self.counter.add(method)
        return super()._make_request(method, request_data)


def http_web3(url: str, *, timeout: float, retries: int, counter: RequestCounter | None = None) -> Web3:
    """A Web3 for a JSON-RPC endpoint with request counting and retries of idempotent calls."""
    retry = ExceptionRetryConfiguration(
        errors=(requests.ConnectionError, requests.HTTPError, requests.Timeout),
        retries=max(retries, 1),
        backoff_factor=0.1,
        method_allowlist=RETRY_METHODS,
    )
    provider = CountingHTTPProvider(
        url,
        counter or RequestCounter(),
        request_kwargs={"timeout": timeout},
        exception_retry_configuration=retry,
        # web3 validates the chain id of every call and transaction with an eth_chainId request; an
        # endpoint's chain id does not change (the app checks it at start-up), so answer it from a cache.
        cache_allowed_requests=True,
        cacheable_requests={RPCEndpoint("eth_chainId")},
    )
    return Web3(provider)


def request_counter(w3: Web3) -> RequestCounter | None:
    """The request counter of a Web3 made by this module, if any."""
    counter = getattr(w3.provider, "counter", None)
    return counter if isinstance(counter, RequestCounter) else None
