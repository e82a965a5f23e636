"""Weight conversion between PyTorch and Flax, and the weight-level cross-check built on it."""

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fmnist_jax import crosscheck as crosscheck_module
from fmnist_jax.cli.main import main
from fmnist_jax.crosscheck import FrameworkAgreement, crosscheck
from fmnist_jax.data.split import synthetic_raw
from fmnist_jax.nn.convert import flax_to_torch, torch_to_flax
from fmnist_jax.nn.models import build_model, init_flax_params
from torch_ref.models import build_model as build_torch_model

MODELS = ("simple", "big", "cnn")


def random_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Continuous random pixels: no flat regions, so no near-ties in max-pooling, whose
    float32 rounding could send a gradient to a different pixel in each framework."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, 28, 28, 1)).astype(np.float32), np.arange(n) % 10


def torch_state(model: str) -> dict[str, np.ndarray]:
    torch.manual_seed(0)
    return {k: v.numpy() for k, v in build_torch_model(model).state_dict().items()}


@pytest.mark.parametrize("model", MODELS)
def test_flax_params_convert_to_the_torch_modules_names_and_shapes(model):
    params = init_flax_params(build_model(model), jax.random.key(0))
    converted = flax_to_torch(params, model)
    expected = build_torch_model(model).state_dict()
    assert {k: v.shape for k, v in converted.items()} == {k: tuple(v.shape)
                                                          for k, v in expected.items()}


@pytest.mark.parametrize("model", MODELS)
def test_torch_to_flax_and_back_gives_the_weights_exactly(model):
    state = torch_state(model)
    back = flax_to_torch(torch_to_flax(state, model), model)
    assert state.keys() == back.keys()
    for name in state:
        np.testing.assert_array_equal(back[name], state[name])


def test_dense_kernels_are_transposed():
    state = torch_state("simple")
    np.testing.assert_array_equal(torch_to_flax(state, "simple")["Dense_1"]["kernel"],
                                  state["dense1.weight"].T)


def test_conv_kernels_go_from_oihw_to_hwio():
    state = torch_state("cnn")
    kernel = torch_to_flax(state, "cnn")["Conv_1"]["kernel"]
    o, i, h, w = 5, 7, 0, 2
    assert kernel.shape == (3, 3, 32, 1024)
    assert kernel[h, w, i, o] == state["conv1.weight"][o, i, h, w]


def test_cnn_first_dense_layer_rows_move_from_chw_to_hwc_flatten_order():
    state = torch_state("cnn")
    kernel = torch_to_flax(state, "cnn")["Dense_0"]["kernel"]
    c, h, w, out = 100, 3, 5, 17
    torch_column = c * 7 * 7 + h * 7 + w
    flax_row = h * 7 * 1024 + w * 1024 + c
    assert kernel[flax_row, out] == state["dense0.weight"][out, torch_column]


def test_a_state_dict_of_another_model_is_refused():
    with pytest.raises(ValueError, match="missing"):
        torch_to_flax(torch_state("simple"), "big")


@pytest.mark.parametrize("model", ["simple", "big"])  # the cnn: on real images, below
def test_both_frameworks_agree_on_logits_loss_gradients_and_adam_steps(model):
    images, labels = random_images(8)
    checks = crosscheck(model, images, labels)
    assert {(c.direction, c.check) for c in checks} == {
        (d, c) for d in ("torch->flax", "flax->torch")
        for c in ("weights round trip", "logits", "loss", "gradients",
                  "params after 5 Adam steps (float64)")}
    assert [c for c in checks if not c.ok] == []


def test_the_crosscheck_command_exits_non_zero_when_a_check_fails(monkeypatch, capsys):
    failing = FrameworkAgreement("simple", "torch->flax", "logits", 1e-3, 1e-5)
    monkeypatch.setattr(crosscheck_module, "crosscheck", lambda *args: [failing])
    monkeypatch.setattr("fmnist_jax.data.idx.load_raw", lambda *args, **kw: synthetic_raw(64, 16))
    assert main(["crosscheck", "--models", "simple"]) == 1
    assert "NO" in capsys.readouterr().out


@pytest.mark.parametrize("models", [["--models", "simple,cnn"], ["--model", "simple", "cnn"]])
def test_the_crosscheck_command_checks_the_models_given_as_a_comma_list(monkeypatch, models):
    checked = []

    def record(model, *args):
        checked.append(model)
        return [FrameworkAgreement(model, "torch->flax", "logits", 0.0, 1e-5)]

    monkeypatch.setattr(crosscheck_module, "crosscheck", record)
    monkeypatch.setattr("fmnist_jax.data.idx.load_raw", lambda *args, **kw: synthetic_raw(64, 16))
    assert main(["crosscheck", *models]) == 0
    assert checked == ["simple", "cnn"]


def test_wrong_adam_betas_fail_the_crosscheck(monkeypatch):
    """Bias correction cancels the betas in a first step: only later steps catch them."""
    optax = pytest.importorskip("optax")
    monkeypatch.setattr(crosscheck_module, "make_optimizer",
                        lambda lr: optax.adam(lr, b1=0.9, b2=0.99, eps=1e-8))
    images, labels = random_images(8)
    failed = [c.check for c in crosscheck("simple", images, labels) if not c.ok]
    assert set(failed) == {"params after 5 Adam steps (float64)"}


@pytest.mark.slow
@pytest.mark.real_data
def test_crosscheck_command_passes_on_real_images_for_every_model(real_data_dir, capsys):
    args = ["crosscheck", "--models", "simple,big,cnn", "--batch", "4"]
    assert main([*args, "--data-dir", str(real_data_dir)]) == 0
    out = capsys.readouterr().out
    assert "30 of 30 checks pass" in out, out

