"""Fuzzing the IDX reader: whatever the bytes, it returns an array or raises DataError."""

import gzip
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fmnist_jax.data import DataError, IdxFile, read_idx

SPEC = IdxFile("fuzz", 2051, (3, 4, 4), gz_sha256=None, raw_sha256=None)
VALID = (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in SPEC.shape) + \
    np.arange(48, dtype=np.uint8).tobytes()


def read(payload: bytes, compressed: bool):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / ("fuzz.gz" if compressed else "fuzz")
        path.write_bytes(payload)
        try:
            return read_idx(path, SPEC)
        except DataError:
            return None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_random_bytes_give_an_array_or_a_data_error(payload, compressed):
    read(payload, compressed)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=6),
       st.integers(0, len(VALID) + 8), st.booleans())
def test_mutated_valid_files_give_an_array_or_a_data_error(edits, length, compressed):
    payload = bytearray(VALID)
    for position, value in edits:
        payload[position] = value
    payload = bytes(payload[:length]) + b"\x07" * max(0, length - len(payload))
    result = read(gzip.compress(payload) if compressed else payload, compressed)
    if payload == VALID:
        assert result is not None and result.shape == SPEC.shape


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 200), st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), max_size=4))
def test_damaged_gzip_archives_give_an_array_or_a_data_error(cut, edits):
    archive = bytearray(gzip.compress(VALID))
    for position, value in edits:
        archive[position % len(archive)] = value
    read(bytes(archive[:cut]), compressed=True)
