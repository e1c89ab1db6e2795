// Reservation form: fill the payer address from a browser wallet or a demo wallet.
(function () {
  "use strict";
  var payer = document.getElementById("payer");
  var demo = document.getElementById("demo-payer");
  if (demo) demo.addEventListener("change", function () { if (demo.value) payer.value = demo.value; });
  var button = document.getElementById("use-wallet");
  if (!button || !window.ethereum) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    window.ethereum.request({method: "eth_requestAccounts"}).then(function (accounts) {
      if (accounts && accounts[0]) payer.value = accounts[0];
    }, function () {});
  });
})();
