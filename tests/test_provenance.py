"""Provenance tells machines apart that differ in what the kernels run on."""

from fmnist_jax.reporting.provenance import cpu_name

ZEN4 = """vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
stepping\t: 1
flags\t\t: fpu avx avx2 fma f16c avx512f avx512bw avx512vl avx512_bf16
"""
ZEN5 = ZEN4.replace(": 25", ": 26").replace(": 17", ": 2")


def test_the_cpu_record_names_family_model_generation_and_vector_extensions():
    record = cpu_name(ZEN4)
    assert record.startswith("AMD EPYC (Zen 4; AuthenticAMD family 25 model 17 stepping 1;")
    assert "avx2 fma f16c avx512f avx512bw avx512vl avx512_bf16;" in record


def test_two_epycs_of_different_generations_are_recorded_differently():
    assert "Zen 5; AuthenticAMD family 26 model 2" in cpu_name(ZEN5)
    assert cpu_name(ZEN4) != cpu_name(ZEN5)


def test_a_cpuinfo_without_family_still_names_the_cpu():
    assert cpu_name("model name\t: Some ARM\nFeatures\t: asimd sve\n").startswith(
        "Some ARM (asimd sve;")
