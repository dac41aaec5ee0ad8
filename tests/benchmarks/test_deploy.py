"""The deploy bench's report: a row without Terraform says n/a where Terraform's numbers would be."""

from __future__ import annotations

from typing import Any

from benchmarks.deploy import COLUMNS, TIMED, text_cells


def row(**times: float | None) -> dict[str, Any]:
    return {"services": 20, "resources": 445, "deployed_resources": 234, "critical_path": 165, "runs": 1, **times}


def cells(**times: float | None) -> dict[str, str]:
    return {title: cell for (title, _), cell in zip(COLUMNS, text_cells(row(**times)), strict=True)}


def test_a_row_gives_the_ratios_and_the_cost_per_deployed_resource() -> None:
    shown = cells(**dict.fromkeys(TIMED, 1.0) | {"up_s": 23.4, "terraform_apply_s": 11.7, "floor_s": 0.2})
    assert (shown["up"], shown["tf apply"], shown["floor"]) == ("23.4s", "11.7s", "0.20s")
    assert (shown["up/tf"], shown["up/floor"], shown["up ms/res"], shown["tf ms/res"]) == (
        "2.0x",
        "117.0x",
        "100",
        "50",
    )


def test_without_terraform_its_columns_say_n_a() -> None:
    shown = cells(**dict.fromkeys(TIMED, 1.0) | {"terraform_apply_s": None, "terraform_destroy_s": None})
    assert [shown[title] for title in ("tf apply", "tf destroy", "up/tf", "tf ms/res")] == ["n/a"] * 4
    assert shown["up"] == "1.0s"
