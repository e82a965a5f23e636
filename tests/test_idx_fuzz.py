"""Fuzzing the IDX reader: whatever the bytes, it returns a valid array or raises DataError;
and with a checksum, any change to the file is refused."""

import gzip
import hashlib
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fmnist_jax.data.idx import IdxFile, read_idx
from fmnist_jax.errors import DataError

HEADER = (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (3, 4, 4))
VALID = HEADER + np.arange(48, dtype=np.uint8).tobytes()
UNCHECKED = IdxFile("fuzz", 2051, (3, 4, 4), gz_sha256=None, raw_sha256=None)
CHECKED = IdxFile("fuzz", 2051, (3, 4, 4), gz_sha256=None,
                  raw_sha256=hashlib.sha256(VALID).hexdigest())


def read(payload: bytes, compressed: bool, spec: IdxFile = UNCHECKED):
    """The array read_idx returns for `payload`, or None when it raises DataError."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / ("fuzz.gz" if compressed else "fuzz")
        path.write_bytes(payload)
        try:
            return read_idx(path, spec)
        except DataError:
            return None


def assert_valid_or_refused(result, payload: bytes) -> None:
    """An accepted file gives the uint8 array of its shape, holding exactly its data bytes."""
    if result is not None:
        assert result.dtype == np.uint8 and result.shape == UNCHECKED.shape
        assert payload[:len(HEADER)] == HEADER
        assert result.tobytes() == payload[len(HEADER):]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_give_a_valid_array_or_a_data_error(payload):
    assert_valid_or_refused(read(payload, compressed=False), payload)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_as_a_gzip_archive_give_a_valid_array_or_a_data_error(payload):
    result = read(payload, compressed=True)
    if result is not None:
        assert_valid_or_refused(result, gzip.decompress(payload))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=6),
       st.integers(0, len(VALID) + 8), st.booleans())
def test_mutated_valid_files_give_a_valid_array_or_a_data_error(edits, length, compressed):
    payload = bytearray(VALID)
    for position, value in edits:
        payload[position] = value
    payload = bytes(payload[:length]) + b"\x07" * max(0, length - len(payload))
    result = read(gzip.compress(payload) if compressed else payload, compressed)
    assert_valid_or_refused(result, payload)
    if payload == VALID:
        assert result is not None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1,
                max_size=6), st.integers(0, len(VALID) + 8))
def test_every_change_to_a_checksummed_file_is_refused(edits, length):
    payload = bytearray(VALID)
    for position, value in edits:
        payload[position] = value
    payload = bytes(payload[:length]) + b"\x07" * max(0, length - len(payload))
    result = read(payload, compressed=False, spec=CHECKED)
    assert (result is None) == (payload != VALID)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 200), st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), max_size=4))
def test_damaged_gzip_archives_give_the_original_array_or_a_data_error(cut, edits):
    archive = bytearray(gzip.compress(VALID))
    for position, value in edits:
        archive[position % len(archive)] = value
    result = read(bytes(archive[:cut]), compressed=True)
    if result is not None:  # gzip's CRC lets through only archives that decompress to VALID
        assert result.tobytes() == VALID[len(HEADER):]
