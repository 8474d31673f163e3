#!/bin/sh
# Regenerate the Rust bindings of the cvimodel schemas. Needs flatc 2.0.8 (its output matches the
# workspace's `flatbuffers = "2.1"`). Works from any directory.
set -e
cd "$(dirname "$0")/../.."
flatc --rust -o runtime/src/generated runtime/schema/*.fbs
