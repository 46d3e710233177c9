"""Tests of the I/O package grid/ that need no real processes."""
