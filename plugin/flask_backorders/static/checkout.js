// Checkout page: countdown, live status, copy buttons, and paying with an EIP-1193 browser wallet.
(function () {
  "use strict";
  var root = document.getElementById("checkout");
  if (!root) return;
  var statusUrl = root.dataset.statusUrl;
  var dataNode = document.getElementById("payment-data");
  var payment = dataNode ? JSON.parse(dataNode.textContent) : null;
  var labels = {
    awaiting_deposit: "Waiting for your deposit", deposit_pending: "Deposit seen — waiting for confirmations",
    held: "Deposit confirmed — you are in the queue", allocated: "A unit is reserved for you",
    compliance_review: "Being reviewed", fulfilled: "Shipped — the merchant has been paid",
    refund_pending: "Refund on its way to your wallet", refunded: "Refunded", frozen: "On hold",
    reclaimed: "You took your deposit back", expired: "The quote expired", cancelled: "Cancelled"
  };
  var money = {awaiting_deposit: "not paid", expired: "not paid", cancelled: "not paid", fulfilled: "paid to the merchant",
               refunded: "back in your wallet", reclaimed: "back in your wallet"};

  function text(id, value) { var n = document.getElementById(id); if (n) n.textContent = value; }
  function say(message, isError) {
    var n = document.getElementById("wallet-status");
    if (!n) return;
    n.textContent = message;
    n.className = "bo-status" + (isError ? " bo-status-error" : "");
  }

  // Copy buttons
  document.querySelectorAll(".bo-copy").forEach(function (button) {
    button.addEventListener("click", function () {
      var value = button.dataset.copy;
      var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); };
      if (navigator.clipboard) navigator.clipboard.writeText(value).then(done, done); else done();
    });
  });

  // Countdown to the quote's expiry
  var countdown = document.getElementById("countdown");
  if (countdown) {
    var deadline = parseInt(countdown.dataset.deadline, 10) * 1000;
    var tick = function () {
      var left = Math.max(0, Math.floor((deadline - Date.now()) / 1000));
      countdown.textContent = left > 0 ? Math.floor(left / 60) + " min " + ("0" + (left % 60)).slice(-2) + " s"
                                       : "expired — reload the page for a new quote or reserve again";
    };
    tick();
    setInterval(tick, 1000);
  }

  // Live status
  var current = document.getElementById("status") ? document.getElementById("status").textContent : null;
  function render(order) {
    text("status", order.status);
    text("status-text", labels[order.status] || order.status);
    text("queue-position", order.queue.position || "—");
    text("units-ahead", order.queue.units_ahead === null ? "—" : order.queue.units_ahead);
    var eta = order.restock_eta;
    text("eta", eta.earliest || eta.latest ? (eta.earliest || "") + " – " + (eta.latest || "") : "unknown");
    text("money", money[order.status] || "held in escrow");
    var list = document.getElementById("timeline");
    if (list) {
      list.textContent = "";
      order.timeline.forEach(function (e) {
        var li = document.createElement("li");
        li.textContent = e.at.slice(0, 19).replace("T", " ") + " " + e.type + (e.status ? " → " + e.status : "");
        list.appendChild(li);
      });
    }
    if (order.status !== current) {
      // Reload so that the server renders what fits the new state (payment, deposit details, actions).
      current = order.status;
      window.location.reload();
    }
  }
  function poll() {
    fetch(statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (order) { if (order) render(order); })
      .catch(function () {})
      .finally(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 2000);

  // Pay with an EIP-1193 browser wallet
  var payButton = document.getElementById("pay-wallet");
  if (!payButton || !payment || !window.ethereum) return;
  payButton.hidden = false;
  var provider = window.ethereum;
  var chainHex = "0x" + payment.chain_id.toString(16);

  function errorMessage(error) {
    if (error && error.code === 4001) return "You rejected the request in your wallet. Nothing was paid.";
    if (error && error.code === 4902) return "Your wallet does not know chain " + payment.chain_id + ". Add it to your wallet, then try again.";
    return "The wallet reported an error: " + ((error && error.message) || error);
  }
  function waitForReceipt(hash) {
    return new Promise(function (resolve, reject) {
      var tries = 0;
      var check = function () {
        provider.request({method: "eth_getTransactionReceipt", params: [hash]}).then(function (receipt) {
          if (receipt) return receipt.status === "0x1" ? resolve(receipt) : reject(new Error("the transaction reverted"));
          if (++tries > 300) return reject(new Error("no receipt yet; check your wallet"));
          setTimeout(check, 1000);
        }, reject);
      };
      check();
    });
  }

  payButton.addEventListener("click", function () {
    payButton.disabled = true;
    say("Connecting to your wallet…");
    provider.request({method: "eth_requestAccounts"}).then(function (accounts) {
      var account = (accounts && accounts[0] || "").toLowerCase();
      if (account !== payment.quote.payer.toLowerCase()) {
        throw {message: "Switch your wallet to the account " + payment.quote.payer + ": the quote is bound to it."};
      }
      return provider.request({method: "eth_chainId"});
    }).then(function (chainId) {
      if (chainId === chainHex) return null;
      say("Switching your wallet to chain " + payment.chain_id + "…");
      return provider.request({method: "wallet_switchEthereumChain", params: [{chainId: chainHex}]});
    }).then(function () {
      var step = Promise.resolve();
      var hashes = [];
      payment.transactions.forEach(function (tx, i) {
        step = step.then(function () {
          say("Confirm transaction " + (i + 1) + " of " + payment.transactions.length + " in your wallet…");
          return provider.request({method: "eth_sendTransaction", params: [{
            from: payment.quote.payer, to: tx.to, data: tx.data, value: "0x" + BigInt(tx.value).toString(16)
          }]});
        }).then(function (hash) {
          hashes.push(hash);
          say("Sent " + hash + " — waiting for it to be mined…");
          return waitForReceipt(hash);
        });
      });
      return step.then(function () { return hashes; });
    }).then(function (hashes) {
      say("Paid: " + hashes[hashes.length - 1] + ". Your deposit is confirmed in a few blocks.");
    }).catch(function (error) {
      say(errorMessage(error), true);
      payButton.disabled = false;
    });
  });
})();
