"""The import rules of docs/architecture.md, read from the code with `ast`: the layers import
only downwards, each third-party library stays in the package that owns it, and the rules do
no I/O. A wrong-way import fails here with the file and line that made it."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

APP = Path(__file__).parent.parent / "app"

# top to bottom: a module may import its own package and any layer below its own
LAYERS: tuple[tuple[str, ...], ...] = (
    ("app.__main__",),
    ("app.cli",),
    ("app.main",),
    ("app.web",),
    ("app.scheduler",),
    ("app.container",),
    ("app.services",),
    ("app.rules",),
    ("app.auth",),
    ("app.store",),
    ("app.config",),
    ("app.logs", "app.metrics"),
    ("app.errors", "app.jsonio"),
)
# third-party libraries and the only packages that may import them
OWNERS: dict[str, tuple[str, ...]] = {
    "starlette": ("app.web", "app.main"),
    "jinja2": ("app.web",),
    # the command runs the server; web.connections is its HTTP protocol (request-head deadline)
    "uvicorn": ("app.cli", "app.web.connections"),
    "apscheduler": ("app.scheduler",),
    "sqlite3": ("app.store",),
    "psycopg": ("app.store",),
    "sqlalchemy": ("app.store",),
    "sqlmodel": ("app.store",),
    "yaml": ("app.config",),
    "pydantic": ("app.config",),
    "jwcrypto": ("app.auth",),
    "argon2": ("app.auth",),  # password hashes of local users
    "cryptography": ("app.auth",),
    "orjson": ("app.jsonio",),
    "prometheus_client": ("app.metrics",),
    # outbound HTTP: the upstream OpenID provider, trusted issuers' and statement issuers' JWKS
    "httpx": ("app.auth",),
    # host names of the trusted-hosts policy; the port check before serving; each worker's
    # listening socket
    "socket": ("app.auth", "app.cli", "app.web.listeners"),
    "ada_url": ("app.rules",),  # the WHATWG URL parser that reads client URIs
    "defusedxml": ("app.services.saml_descriptors",),  # SAML metadata, hardened
    "xml": ("app.services.saml_descriptors",),
}
# the rules are pure: no I/O and no clock, so only these standard modules, and ada_url: a
# WHATWG URL parser (pure parsing, no I/O) that reads client URIs as browsers do
RULES_MAY_IMPORT = frozenset(
    {
        "re",
        "collections",
        "functools",
        "typing",
        "dataclasses",
        "ipaddress",
        "urllib.parse",
        "ada_url",
    }
)
# what the rules may use of the layer below: plain data about the caller and the role names
RULES_MAY_USE = frozenset({"app.auth.callers", "app.auth.roles"})


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. app.web.fastlane
    target: str  # what it imports, e.g. app.store.errors or starlette.requests
    where: str  # file:line

    def __str__(self) -> str:
        return f"{self.where}: {self.module} imports {self.target}"


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[Import]:
    module = module_name(path)
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        where = f"{path.relative_to(APP.parent)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, where) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "app":  # from app import web -> app.web
                found += [Import(module, f"app.{alias.name}", where) for alias in node.names]
            else:
                found.append(Import(module, node.module, where))
    return found


ALL_IMPORTS = [found for path in sorted(APP.rglob("*.py")) for found in imports_of(path)]


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def layer_of(name: str) -> int:
    for rank, packages in enumerate(LAYERS):
        if any(within(name, package) for package in packages):
            return rank
    raise AssertionError(f"{name} belongs to no layer of docs/architecture.md")


def package_of(name: str) -> str:
    return ".".join(name.split(".")[:2])


def test_every_module_has_a_layer() -> None:
    for path in APP.rglob("*.py"):
        if path.name != "__init__.py" or path.parent != APP:
            layer_of(module_name(path))


def test_imports_go_only_downwards() -> None:
    wrong = [
        str(found)
        for found in ALL_IMPORTS
        if found.target.startswith("app.")
        and package_of(found.target) != package_of(found.module)
        and layer_of(found.target) <= layer_of(found.module)
    ]
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(wrong)


def test_each_library_stays_with_its_owner() -> None:
    wrong = [
        f"{found} (only {', '.join(owners)} may)"
        for found in ALL_IMPORTS
        for library, owners in OWNERS.items()
        if within(found.target, library)
        and not any(within(found.module, owner) for owner in owners)
    ]
    assert not wrong, "\n".join(wrong)


def test_rules_do_no_io() -> None:
    wrong = [
        str(found)
        for found in ALL_IMPORTS
        if within(found.module, "app.rules")
        and not found.target == "__future__"
        and not within(found.target, "app.rules")
        and not any(within(found.target, allowed) for allowed in RULES_MAY_IMPORT)
        and found.target not in RULES_MAY_USE
        and found.target not in ("app.config.realm_models", "app.errors")
    ]
    assert not wrong, "the rules are pure (no I/O, no clock):\n" + "\n".join(wrong)


def test_the_scan_sees_the_imports_it_judges() -> None:
    """The scan itself: it finds the fast lane's imports, lazy ones inside functions too."""
    targets = {found.target for found in ALL_IMPORTS if found.module == "app.web.fastlane"}
    assert {"starlette.applications", "app.web.routes.registration"} <= targets
    lazy = {found.target for found in ALL_IMPORTS if found.module == "app.cli"}
    assert "uvicorn" in lazy and "app.main" in lazy


def test_every_module_is_on_the_map() -> None:
    """docs/architecture.md names every module, so a new one is placed on the map too."""
    map_text = (APP.parent / "docs" / "architecture.md").read_text()
    missing = [
        str(path.relative_to(APP.parent))
        for path in sorted(APP.rglob("*.py"))
        if path.name != "__init__.py" and path.name not in map_text
    ]
    assert not missing, "modules missing from docs/architecture.md: " + ", ".join(missing)
