#!/usr/bin/env bash
# Installs the tools that lint the Terraform module (terraform fmt, tflint)
# into $(go env GOPATH)/bin with `go install`, since CI reaches the Go module
# proxy but no release downloads. Idempotent: a tool already there at the
# pinned version is kept, so a second run takes well under a second.
# tflint uses only its bundled terraform ruleset (terraform/.tflint.hcl), so
# it needs no `tflint --init` and no plugin download.
set -euo pipefail

TERRAFORM_VERSION=1.5.7
TFLINT_VERSION=0.61.0

gobin="${GOBIN:-$(go env GOPATH)/bin}"
# No update check against HashiCorp's servers, which CI cannot reach.
export CHECKPOINT_DISABLE=1

installed_version() { # tool, sed expression picking the version out of --version
  "$gobin/$1" --version 2>/dev/null | sed -n "$2" | head -n1 || true
}

if [ "$(installed_version terraform 's/^Terraform v//p')" != "$TERRAFORM_VERSION" ]; then
  echo "installing terraform $TERRAFORM_VERSION into $gobin"
  GOBIN="$gobin" GOFLAGS='' go install "github.com/hashicorp/terraform@v$TERRAFORM_VERSION"
fi

if [ "$(installed_version tflint 's/^TFLint version //p')" != "$TFLINT_VERSION" ]; then
  echo "installing tflint $TFLINT_VERSION into $gobin"
  GOBIN="$gobin" GOFLAGS='' go install "github.com/terraform-linters/tflint@v$TFLINT_VERSION"
fi
