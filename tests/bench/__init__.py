"""Tests of bench/'s own logic (the benchmark document, the chaos comparison) on built inputs.
They import bench; no process is started."""
