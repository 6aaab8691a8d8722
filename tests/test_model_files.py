"""A model file cannot bring weights that no check saw (issue 17, item 5)."""

from __future__ import annotations

import json
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


MODELS = Path(__file__).resolve().parent.parent / "models"


def zoo_copy(folder: Path) -> Path:
    """The project's registry and models, copied where a test may change them."""
    dest = folder / "zoo"
    dest.mkdir()
    for f in MODELS.glob("*"):
        if f.suffix in (".onnx", ".json") and f.is_file():
            (dest / f.name).write_bytes(f.read_bytes())
    return dest


def test_a_link_out_of_the_registry_folder_is_refused(tmp_path: Path) -> None:
    # The link's target has the pinned bytes: only its place is wrong.
    zoo = zoo_copy(tmp_path)
    outside = tmp_path / "elsewhere.onnx"
    (zoo / "vmaf_tiny.onnx").rename(outside)
    (zoo / "vmaf_tiny.onnx").symlink_to(outside)
    with pytest.raises(InputError, match="outside the registry's folder"):
        registry.load("vmaf_tiny", folder=zoo)
    # A link that stays inside the folder is only a name.
    inner = zoo / "kept.onnx"
    outside.rename(inner)
    (zoo / "vmaf_tiny.onnx").unlink()
    (zoo / "vmaf_tiny.onnx").symlink_to(inner)
    assert registry.load("vmaf_tiny", folder=zoo).registered


def test_a_model_given_by_path_is_matched_to_its_registry_row(tmp_path: Path) -> None:
    copy = tmp_path / "mine.onnx"
    copy.write_bytes((MODELS / "vmaf_tiny.onnx").read_bytes())
    same = registry.load(str(copy), kind="fr")
    assert same.registered and same.entry is not None and same.entry.id == "vmaf_tiny"
    # The same graph saved again with other metadata: other bytes, no row.
    model = onnx.load(str(copy))
    model.doc_string = "retrained here"
    onnx.save(model, str(copy))
    other = registry.load(str(copy), kind="fr")
    assert not other.registered and other.range == registry.KIND_RANGES["fr"]
    with pytest.raises(Exception, match="a fr model; this needs a nr model"):
        registry.load(str(MODELS / "vmaf_tiny.onnx"), kind="nr")


def scaled_nr(folder: Path, factor: float) -> Path:
    """The registry's no-reference model with its score multiplied by `factor`: the
    tampering the issue found (one edited weight file moved a score to 5006.87)."""
    model = onnx.load(str(MODELS / "vmaf_post_nr.onnx"))
    (out,) = model.graph.output
    model.graph.initializer.append(numpy_helper.from_array(np.array(factor, np.float32), "k"))
    model.graph.node.append(helper.make_node("Mul", [out.name + "_raw", "k"], [out.name]))
    for node in model.graph.node[:-1]:
        node.output[:] = [o + "_raw" if o == out.name else o for o in node.output]
    path = folder / "scaled.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("engine", ["python", "ffmpeg"])
def test_a_model_out_of_its_range_fails_in_one_line(  # type: ignore[no-untyped-def]
    cli, carphone, tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    ref, _ = carphone
    if engine == "ffmpeg":
        request.getfixturevalue("ffmpeg_built")
    r = cli("score", ref, "--nr", "--nr-model", scaled_nr(tmp_path, 60.0), "--engine", engine)
    assert r.code == 3, r.stderr
    assert "outside its declared range [-10, 110]" in r.stderr and "Traceback" not in r.stderr
    # Scaled by one, the very same graph is in range; not registered, and the report says so.
    out = tmp_path / "nr.json"
    r = cli("score", ref, "--nr", "--nr-model", scaled_nr(tmp_path, 1.0), "--engine", engine,
            "--json", out)  # fmt: skip
    assert r.code == 0, r.stderr
    report = json.loads(out.read_text())
    assert report["unregistered"] is True and 0 < report["pooled"]["mean"] < 100
