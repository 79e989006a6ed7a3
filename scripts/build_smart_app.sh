#!/usr/bin/env bash
# Rebuild the SMART app (smart_app/ sources -> cds_service/web/app/, committed as package data, so that
# `pip install` needs no Node). Pinned by smart_app/package-lock.json: fhirclient (the SMART project's
# client), @observablehq/plot (charts), esbuild (bundler). Needs Node >= 20 and npm.
set -euo pipefail
cd "$(dirname "$0")/../smart_app"
npm ci --no-audit --no-fund
node build.mjs
