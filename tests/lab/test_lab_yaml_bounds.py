"""The lab's API server reads YAML bodies (``application/yaml`` creates, server-side apply
patches) with the bounded loader: an alias bomb is a 400 naming the bound, and the server goes on."""

from __future__ import annotations

from lab_helpers import LabAPI

CMS = "/api/v1/namespaces/demo/configmaps"
APPLY = "application/apply-patch+yaml"


def alias_bomb(levels: int) -> str:
    """A ConfigMap whose ``bomb`` field holds ``levels`` of nine-fold aliases."""
    lines = ["  a: &a [xxxxxxxxxxxxxxxx, xxxxxxxxxxxxxxxx]"]
    for i in range(levels):
        name, previous = chr(ord("b") + i), chr(ord("a") + i)
        lines.append(f"  {name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\nbomb:\n" + "\n".join(lines) + "\n"


async def test_an_alias_bomb_in_a_yaml_body_is_a_400_and_the_server_goes_on(api: LabAPI) -> None:
    bomb = alias_bomb(5)
    status, out = await api.post(CMS, bomb, content_type="application/yaml")
    assert status == 400 and "aliases" in out["message"], out
    status, out = await api.patch(f"{CMS}/bomb", bomb, APPLY, params={"fieldManager": "x"})
    assert status == 400 and "aliases" in out["message"], out
    status, out = await api.get(f"{CMS}/bomb")
    assert status == 404  # neither request stored anything
    ok = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\ndata: {a: b}\n"
    status, out = await api.patch(f"{CMS}/fine", ok, APPLY, params={"fieldManager": "x"})
    assert status == 201 and out["data"] == {"a": "b"}, out
