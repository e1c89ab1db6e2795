"""The demo shop end to end in a real browser: reserve, pay, follow, restock, ship, cancel, browser wallet."""

from __future__ import annotations

import json
from typing import Any

from eth_account import Account
from web3 import Web3

from .conftest import ADMIN_TOKEN, LiveShop


def reserve(
    page: Any, shop: LiveShop, payer: str, *, symbol: str = "USDC", demo_index: int | None = None
) -> None:
    page.goto(shop.url + "/")
    page.get_by_role("link", name="Vault One hardware wallet").click()
    page.get_by_role("link", name="Reserve with crypto deposit").click()
    page.get_by_label("Units").fill("1")
    page.get_by_label(symbol, exact=True).check()
    page.get_by_label("E-mail").fill("ada@example.com")
    if demo_index is not None:
        page.get_by_label("Demo chain: or pick a funded demo wallet").select_option(index=demo_index + 1)
        assert page.get_by_label("Wallet address you will pay from").input_value() == payer
    else:
        page.get_by_label("Wallet address you will pay from").fill(payer)
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Address", exact=True).fill("1 Analytical St")
    page.get_by_label("City").fill("London")
    page.get_by_label("Postal code").fill("N1 9GU")
    page.get_by_label("Country (ISO code, e.g. DE)").fill("GB")
    page.get_by_role("button", name="Get my payment details").click()
    page.wait_for_url("**/backorders/checkout/**")


def wait_status(page: Any, status: str, timeout: int = 30_000) -> None:
    script = "s => (document.getElementById('status') || {}).textContent === s"
    page.wait_for_function(script, arg=status, timeout=timeout)


def admin_login(page: Any, shop: LiveShop) -> None:
    page.goto(shop.url + "/backorders/dashboard/")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Products").wait_for()


def test_reserve_pay_with_demo_wallet_restock_ship_fulfilled(
    live_shop: LiveShop, page: Any, browser: Any
) -> None:
    payer = live_shop.demo_account(0).address
    reserve(page, live_shop, payer, demo_index=0)
    assert "/backorders/checkout/" in page.url
    assert page.get_by_text("129 USDC").first.is_visible()
    assert page.locator(".bo-qr svg").count() == 1
    assert page.get_by_text(live_shop.state.chain.escrow.address).first.is_visible()
    page.get_by_role("button", name="Pay with demo wallet (demo chain only)").click()
    wait_status(page, "held")
    assert page.locator("#queue-position").text_content() == "1"
    assert page.locator("#units-ahead").text_content() == "0"

    admin = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    admin_login(admin, live_shop)
    admin.locator("#restock-VAULT-ONE").fill("1")
    admin.locator("form:has(#restock-VAULT-ONE)").get_by_role("button", name="Restock and allocate").click()
    admin.get_by_text("Restocked 1 unit(s) of VAULT-ONE.").wait_for()
    admin.goto(live_shop.url + "/backorders/dashboard/orders?status=allocated")
    admin.locator("table a.bo-mono").first.click()
    admin.get_by_label("Carrier").fill("DHL")
    admin.get_by_label("Tracking number").fill("JD0001")
    admin.get_by_role("button", name="Mark shipped").click()
    admin.get_by_text("Shipped: the escrow will be captured").wait_for()

    # The buyer page is still open on the checkout: it follows the order by itself (and reloads on changes).
    wait_status(page, "fulfilled", timeout=40_000)
    page.get_by_text("paid to the merchant").wait_for()
    admin.context.close()


def test_cancel_after_paying_reaches_refunded(live_shop: LiveShop, page: Any) -> None:
    payer = live_shop.demo_account(1).address
    reserve(page, live_shop, payer, symbol="ETH", demo_index=1)
    page.get_by_role("button", name="Pay with demo wallet (demo chain only)").click()
    # The page reloads itself once the deposit is confirmed; the refund button comes with it.
    page.get_by_role("button", name="Cancel and refund my deposit").click()
    page.get_by_text("Your reservation is cancelled").wait_for()
    wait_status(page, "refunded", timeout=40_000)
    page.wait_for_function("(document.getElementById('money') || {}).textContent === 'back in your wallet'")


def inject_wallet(page: Any, shop: LiveShop, account: Any, *, reject: bool = False) -> list[str]:
    """An EIP-1193 provider in the page that forwards to the local chain and signs with a real key."""
    w3 = shop.state.chain.w3
    chain_id = shop.state.chain.chain_id
    sent: list[str] = []

    def rpc(method: str, params_json: str) -> str:
        params = json.loads(params_json)
        try:
            if method in ("eth_requestAccounts", "eth_accounts"):
                result: Any = [account.address]
            elif method == "eth_chainId":
                result = hex(chain_id)
            elif method == "wallet_switchEthereumChain":
                result = None
            elif method == "eth_sendTransaction":
                if reject:
                    return json.dumps({"error": {"code": 4001, "message": "User rejected the request."}})
                tx = params[0]
                fields = {
                    "from": account.address,
                    "to": Web3.to_checksum_address(tx["to"]),
                    "data": tx["data"],
                    "value": int(tx.get("value", "0x0"), 16),
                    "chainId": chain_id,
                    "nonce": w3.eth.get_transaction_count(account.address, "pending"),
                }
                fields["gas"] = int(w3.eth.estimate_gas(fields) * 12 // 10)
                base = int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
                fields.update(maxPriorityFeePerGas=10**9, maxFeePerGas=base * 2 + 10**9)
                result = w3.eth.send_raw_transaction(
                    account.sign_transaction(fields).raw_transaction
                ).to_0x_hex()
                sent.append(result)
            elif method == "eth_getTransactionReceipt":
                try:
                    receipt = w3.eth.get_transaction_receipt(params[0])
                    result = {"status": hex(receipt["status"]), "transactionHash": params[0]}
                except Exception:
                    result = None
            else:
                return json.dumps({"error": {"code": 4200, "message": f"unsupported {method}"}})
        except Exception as error:  # a real wallet reports RPC failures as errors too
            return json.dumps({"error": {"code": -32000, "message": str(error)}})
        return json.dumps({"result": result})

    page.expose_function("backordersTestRpc", rpc)
    page.add_init_script("""
      window.ethereum = {
        isMetaMask: false,
        request: async ({method, params}) => {
          const answer = JSON.parse(await window.backordersTestRpc(method, JSON.stringify(params || [])));
          if (answer.error) {
            const e = new Error(answer.error.message); e.code = answer.error.code; throw e;
          }
          return answer.result;
        },
      };
    """)
    return sent


def test_pay_with_an_injected_eip1193_wallet(live_shop: LiveShop, page: Any) -> None:
    account = Account.from_key(live_shop.demo_account(2).key.reveal())
    sent = inject_wallet(page, live_shop, account)
    page.goto(live_shop.url + "/backorders/reserve/VAULT-ONE")
    page.get_by_role("button", name="Use my browser wallet's address").click()
    page.wait_for_function("document.getElementById('payer').value.length === 42")
    assert page.get_by_label("Wallet address you will pay from").input_value() == account.address
    page.goto(live_shop.url + "/")
    reserve(page, live_shop, account.address)
    page.get_by_role("button", name="Pay with browser wallet").click()
    page.get_by_text("Paid: ").wait_for(timeout=30_000)
    assert len(sent) == 2  # approve, then depositToken
    assert sent[-1] in page.locator("#wallet-status").text_content()
    wait_status(page, "held")


def test_a_rejection_in_the_wallet_is_explained_and_nothing_is_paid(live_shop: LiveShop, page: Any) -> None:
    account = Account.from_key(live_shop.demo_account(3).key.reveal())
    inject_wallet(page, live_shop, account, reject=True)
    reserve(page, live_shop, account.address)
    page.get_by_role("button", name="Pay with browser wallet").click()
    page.get_by_text("You rejected the request in your wallet. Nothing was paid.").wait_for()
    assert page.get_by_role("button", name="Pay with browser wallet").is_enabled()
    assert page.locator("#status").text_content() == "awaiting_deposit"


def test_the_wrong_wallet_account_is_refused(live_shop: LiveShop, page: Any) -> None:
    other = Account.from_key(live_shop.demo_account(4).key.reveal())
    inject_wallet(page, live_shop, other)
    reserve(page, live_shop, live_shop.demo_account(5).address, demo_index=5)
    page.get_by_role("button", name="Pay with browser wallet").click()
    page.get_by_text("Switch your wallet to the account").wait_for()
