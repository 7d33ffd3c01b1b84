"""The public surface: `s3store`'s own names, and the public subpackages; the rest is private."""

from __future__ import annotations

import pkgutil

import s3store

PUBLIC_MODULES = {"aio", "cli", "testing"}


def test_every_other_module_of_the_package_is_private() -> None:
    modules = {info.name for info in pkgutil.iter_modules(s3store.__path__)}
    public = {name for name in modules if not name.startswith("_")}
    assert public == PUBLIC_MODULES

