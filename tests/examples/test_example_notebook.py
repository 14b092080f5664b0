"""examples/notebook.ipynb runs top to bottom on an ipykernel (top-level ``await``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

nbformat = pytest.importorskip(
    "nbformat", reason="nbformat is not installed (pip install 'kom-async[examples]')"
)
nbclient = pytest.importorskip(
    "nbclient", reason="nbclient is not installed (pip install 'kom-async[examples]')"
)
pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install 'kom-async[examples]')")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def kernel_name() -> str:
    """ipykernel importable here means jupyter_client offers its built-in 'python3' kernel,
    started with this very interpreter; no `ipykernel install` needed."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        pytest.skip("no 'python3' Jupyter kernel spec; run: python -m ipykernel install --user")
    return "python3"


def text_outputs(cell: dict[str, object]) -> list[str]:
    out = []
    for output in cell["outputs"]:  # type: ignore[attr-defined]
        data = output.get("data", {})
        out.append(data.get("text/plain") or output.get("text", ""))
    return out


async def test_the_notebook_registers_eks_clusters_with_top_level_await_and_lists_pods() -> None:
    nb = nbformat.read(EXAMPLES / "notebook.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name=kernel_name(), timeout=60, allow_errors=False)
    await client.async_execute()

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert any("await clusters.register_eks(" in c.source for c in code)
    outputs = [text_outputs(c) for c in code]
    assert ast.literal_eval(outputs[1][0]) == ["us-east-1-prod", "eu-west-1-staging"]
    assert ast.literal_eval(outputs[2][0]) == ["api-0", "web-0", "web-1"]
    assert ast.literal_eval(outputs[3][0]) == {"us-east-1-prod": ["web"], "eu-west-1-staging": ["web"]}
    assert outputs[4][0].startswith("AuthStats(source='eks-native', fetches=1")
    assert all(o.get("output_type") != "error" for c in code for o in c.outputs)
