"""The `fmnist` command as a user runs it: real subprocesses, real files."""

import gzip
import json
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fmnist_jax import cli
from fmnist_jax.cli.main import SUBCOMMANDS, main
from fmnist_jax.data.idx import FILES


def fmnist(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fmnist_jax", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=600, check=False)


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_lists_every_subcommand_and_each_has_its_own_help(capsys):
    modules = {module.name.removesuffix("_cmd") for module in pkgutil.iter_modules(cli.__path__)
               if module.name.endswith("_cmd")}
    assert set(SUBCOMMANDS) == modules  # every subcommand module is registered
    result = fmnist("--help")
    assert result.returncode == 0
    assert re.findall(r"^    (\S+)", result.stdout, re.MULTILINE) == list(SUBCOMMANDS)
    for name in SUBCOMMANDS:
        with pytest.raises(SystemExit) as exited:
            main([name, "--help"])
        assert exited.value.code == 0 and capsys.readouterr().out.startswith(
            f"usage: fmnist {name} ")


def test_unknown_model_is_rejected_by_the_parser():
    result = fmnist("train", "--model", "resnet")
    assert result.returncode == 2 and "invalid choice: 'resnet'" in result.stderr


def test_non_positive_epochs_are_a_one_line_error(tmp_path):
    result = fmnist("train", "--model", "simple", "--max-epochs", "0", "--data-dir", tmp_path)
    assert_one_line_error(result, "--max-epochs must be positive")


@pytest.fixture
def data_copy(real_data_dir, tmp_path) -> Path:
    """A data directory of links to the real files, any of which a test may replace."""
    copy = tmp_path / "data"
    copy.mkdir()
    for spec in FILES.values():
        (copy / f"{spec.stem}.gz").symlink_to(real_data_dir / f"{spec.stem}.gz")
    return copy


def labels_payload(path: Path) -> bytearray:
    return bytearray(gzip.decompress(path.read_bytes()))


def regzip(path: Path, payload: bytes) -> None:
    path.unlink()
    path.write_bytes(gzip.compress(bytes(payload)))


def truncate_archive(path: Path) -> None:
    payload = path.read_bytes()[:10_000]
    path.unlink()
    path.write_bytes(payload)


def truncate_payload(path: Path) -> None:
    regzip(path, labels_payload(path)[:-100])


def wrong_magic(path: Path) -> None:
    payload = labels_payload(path)
    payload[2] = 9  # magic 2049 (0x0801) becomes 0x0901
    regzip(path, payload)


def wrong_count(path: Path) -> None:
    payload = labels_payload(path)
    payload[4:8] = (len(payload) - 9).to_bytes(4, "big")
    regzip(path, payload)


def label_out_of_range(path: Path) -> None:
    payload = labels_payload(path)
    payload[100] = 10
    regzip(path, payload)


def swap_two_labels(path: Path) -> None:
    payload = labels_payload(path)  # still a valid file, only the checksum can tell
    other = next(i for i in range(9, len(payload)) if payload[i] != payload[8])
    payload[8], payload[other] = payload[other], payload[8]
    regzip(path, payload)


def directory_instead(path: Path) -> None:
    path.unlink()
    path.mkdir()


@pytest.mark.real_data
def test_data_command_verifies_good_files(data_copy):
    result = fmnist("data", "--data-dir", data_copy)
    assert result.returncode == 0 and result.stdout.count("sha256 matches") == 4


@pytest.mark.real_data
def test_batch_larger_than_the_training_set_is_a_one_line_error(real_data_dir, tmp_path):
    result = fmnist("train", "--model", "simple", "--batch-size", "50001",
                    "--data-dir", real_data_dir, "--out", tmp_path / "run")
    assert_one_line_error(result, "--batch-size 50001 exceeds the 50000 training images")
    assert not (tmp_path / "run").exists()


CORRUPTIONS = {  # what is done to train-labels-idx1-ubyte.gz, and what the error must say
    "truncated archive": (truncate_archive, "truncated or corrupt gzip archive"),
    "truncated file": (truncate_payload, "truncated or padded"),
    "wrong magic number": (wrong_magic, "wrong magic number 2305"),
    "wrong count": (wrong_count, "wrong dimensions (59999,)"),
    "label out of range": (label_out_of_range, "label 10 is outside 0-9"),
    "checksum mismatch": (swap_two_labels, "checksum does not match"),
    "directory": (directory_instead, "is a directory"),
}


@pytest.mark.real_data
@pytest.mark.parametrize("case", CORRUPTIONS)
def test_each_bad_data_case_is_a_one_line_error_naming_the_file(data_copy, case):
    corrupt, message = CORRUPTIONS[case]
    path = data_copy / "train-labels-idx1-ubyte.gz"
    corrupt(path)
    assert_one_line_error(fmnist("data", "--data-dir", data_copy), str(path), message,
                          f"delete it and run `fmnist data --data-dir {data_copy}` to download "
                          "it again")


@pytest.mark.real_data
def test_unreadable_file_is_a_one_line_error(data_copy, monkeypatch, capsys):
    target = data_copy / "t10k-labels-idx1-ubyte.gz"
    read_bytes = Path.read_bytes

    def denied(path):
        if path == target:
            raise PermissionError(13, "Permission denied")
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", denied)
    assert main(["data", "--data-dir", str(data_copy)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(target) in lines[0] and "permission denied" in lines[0]


@pytest.mark.real_data
def test_missing_file_is_a_one_line_error(data_copy):
    (data_copy / "t10k-images-idx3-ubyte.gz").unlink()
    result = fmnist("train", "--model", "simple", "--data-dir", data_copy)
    assert_one_line_error(result, "t10k-images-idx3-ubyte.gz", "missing", "fmnist data")


def strict_json(path: Path):
    return json.loads(path.read_text(), parse_constant=lambda name: pytest.fail(f"{name} in {path}"))


@pytest.mark.real_data
@pytest.mark.parametrize("framework", ["train", "torch"])
def test_a_run_directory_that_evaluate_reproduces_image_for_image(real_data_dir, tmp_path,
                                                                  framework):
    if framework == "torch":
        pytest.importorskip("torch")
    out = tmp_path / "run"
    result = fmnist(framework, "--model", "simple", "--max-epochs", "1", "--seeds", "2",
                    "--train-subset", "5000", "--quiet", "--data-dir", real_data_dir, "--out", out)
    assert result.returncode == 0, result.stderr
    checkpoint = "checkpoint.msgpack" if framework == "train" else "checkpoint.pt"
    for name in ("config.json", "history.csv", "results.json", checkpoint, "summary.md",
                 "summary.json", "curves.png", "confusion.png", "accuracy.png"):
        assert (out / name).is_file(), name
    runs = strict_json(out / "results.json")["runs"]
    assert all(np.sum(run["confusion_matrix"]) == 10_000 for run in runs)
    # evaluate finds the data through config.json (no --data-dir) and recounts every image
    evaluated = fmnist("evaluate", out, env={**os.environ, "FMNIST_DATA_DIR": ""})
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    for run, line in zip(runs, evaluated.stdout.splitlines()[1:3]):
        correct = int(np.trace(run["confusion_matrix"]))
        assert line.split()[2:4] == [str(correct), str(correct)], line

    again = fmnist(framework, "--model", "simple", "--data-dir", real_data_dir, "--out", out)
    assert_one_line_error(again, "already holds a finished run")


@pytest.mark.real_data
def test_every_json_file_records_its_provenance(real_data_dir, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--model", "simple", "--max-epochs", "1", "--train-subset", "1000",
                 "--quiet", "--data-dir", str(real_data_dir), "--out", str(out)]) == 0
    for name in ("config.json", "results.json", "summary.json"):
        record = strict_json(out / name)["provenance"]
        assert record["versions"]["jax"] and record["versions"]["numpy"], name
        assert record["command"] and record["git_commit"] and record["date"], name
        assert record["data"]["sha256"]["train-images-idx3-ubyte.gz"] == \
            FILES["train_images"].gz_sha256, name
    assert "Made by" in (out / "summary.md").read_text()


def test_every_option_of_every_command_has_help_text():
    from fmnist_jax.cli.main import build_parser

    _, subparsers = build_parser()
    for name, parser in subparsers.items():
        for action in parser._actions:
            assert action.help, f"fmnist {name} {'/'.join(action.option_strings) or action.dest}"
    model = next(a for a in subparsers["train"]._actions if "--model" in a.option_strings)
    assert "required unless --resume" in model.help


def test_a_typo_in_an_option_is_one_line_naming_the_subcommand():
    result = fmnist("train", "--modle", "simple")
    assert_one_line_error(result, "fmnist train: error: unrecognized arguments: --modle simple",
                          "fmnist train --help")


def test_a_comma_list_option_names_its_unknown_items(capsys):
    with pytest.raises(SystemExit):
        main(["study", "--models", "simple,resnet"])
    assert "invalid choice 'resnet' (choose from simple,big,cnn" in capsys.readouterr().err
