#!/usr/bin/env node
// Compiles the Solidity sources with the pinned solc-js through standard JSON and writes one artifact per
// contract to contracts_abi/build/<Name>.json (abi, bytecode, compiler settings).
//
//   node contracts_abi/compile.js           write the artifacts
//   node contracts_abi/compile.js --check   recompile and fail if any committed artifact differs
//
// Source keys are fixed and relative (contracts_abi/X.sol) so the metadata hash, and so the bytecode, is the
// same in every checkout folder.
"use strict";

const fs = require("fs");
const path = require("path");
const solc = require("solc");

const ROOT = path.resolve(__dirname, "..");
const BUILD = path.join(__dirname, "build");
const SOURCES = [
  "contracts_abi/BackorderEscrow.sol",
  "contracts_abi/testing/TestToken.sol",
  "contracts_abi/testing/FeeToken.sol",
  "contracts_abi/testing/NoBoolToken.sol",
  "contracts_abi/testing/SanctionsList.sol",
  "contracts_abi/testing/TestPriceFeed.sol",
  "contracts_abi/testing/RejectingReceiver.sol",
];
const SETTINGS = {
  evmVersion: "prague",
  optimizer: { enabled: true, runs: 200 },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

function findImport(importPath) {
  const candidates = [path.join(ROOT, importPath), path.join(ROOT, "node_modules", importPath)];
  for (const candidate of candidates) {
    if (fs.existsSync(candidate)) {
      return { contents: fs.readFileSync(candidate, "utf8") };
    }
  }
  return { error: `not found: ${importPath}` };
}

function compile() {
  const sources = {};
  for (const key of SOURCES) {
    sources[key] = { content: fs.readFileSync(path.join(ROOT, key), "utf8") };
  }
  const input = { language: "Solidity", sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  for (const e of output.errors || []) {
    process.stderr.write(e.formattedMessage + "\n");
  }
  if (errors.length) {
    process.exit(1);
  }
  const artifacts = {};
  for (const key of SOURCES) {
    for (const [name, contract] of Object.entries(output.contracts[key])) {
      artifacts[name] = {
        contractName: name,
        sourceName: key,
        compiler: { name: "solc-js", version: solc.version() },
        settings: { evmVersion: SETTINGS.evmVersion, optimizer: SETTINGS.optimizer },
        abi: contract.abi,
        bytecode: "0x" + contract.evm.bytecode.object,
        deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
      };
    }
  }
  return artifacts;
}

function main() {
  const check = process.argv.includes("--check");
  const artifacts = compile();
  let drift = 0;
  fs.mkdirSync(BUILD, { recursive: true });
  for (const [name, artifact] of Object.entries(artifacts)) {
    if (artifact.bytecode === "0x") continue; // interfaces
    const file = path.join(BUILD, `${name}.json`);
    const text = JSON.stringify(artifact, null, 2) + "\n";
    if (check) {
      const committed = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
      if (committed !== text) {
        process.stderr.write(`artifact differs from a fresh compile: contracts_abi/build/${name}.json\n`);
        drift += 1;
      }
    } else {
      fs.writeFileSync(file, text);
    }
  }
  if (check) {
    if (drift) process.exit(1);
    process.stdout.write(`contracts: ${Object.keys(artifacts).length} compiled, artifacts byte-identical\n`);
  } else {
    process.stdout.write(`contracts: wrote ${Object.keys(artifacts).length} artifacts to contracts_abi/build\n`);
  }
}

main();
