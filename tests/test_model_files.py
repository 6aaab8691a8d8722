"""A model file cannot bring weights that no check saw (issue 17, item 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from vmaftune.errors import InputError
from vmaftune.zoo import registry


def stub(folder: Path, *, external: bool) -> Path:
    """A one-node model (y = x + w) whose weight w lives in w.bin when `external`."""
    w = numpy_helper.from_array(np.ones((1, 6), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])], "stub",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 6])], [w],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = folder / "stub.onnx"
    onnx.save_model(model, str(path), save_as_external_data=external,
                    all_tensors_to_one_file=True, location="w.bin", size_threshold=0)  # fmt: skip
    return path


def test_external_weights_are_refused(tmp_path: Path) -> None:
    path = stub(tmp_path, external=True)
    assert (tmp_path / "w.bin").exists() and path.stat().st_size < 200
    with pytest.raises(InputError, match="keep their values in another file"):
        registry.load(str(path))


def test_the_same_model_with_its_weights_inside_loads(tmp_path: Path) -> None:
    loaded = registry.load(str(stub(tmp_path, external=False)))
    (y,) = loaded.session().run(None, {"x": np.zeros((1, 6), dtype=np.float32)})
    assert np.allclose(y, 1.0)


def test_score_refuses_an_external_data_model_in_one_line(cli, carphone, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ref, dist = carphone
    path = stub(tmp_path, external=True)
    r = cli("score", ref, dist, "--tiny", "--tiny-model", path)
    assert r.code == 3 and "keep their values in another file" in r.stderr
    assert "Traceback" not in r.stderr
