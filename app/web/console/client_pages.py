"""Console pages of one client: its details and edit form, enable / disable, the
regeneration of its secret and registration access token, and its deletion, confirmed.

The edit form goes through the very service of the RFC 7592 PUT (Registrations.update, with the
admin's bearer), so its checks and policies decide exactly as for the API.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from app.auth.roles import TO_MANAGE_CLIENTS, holds, owns, require_role_or_owner
from app.errors import RegistrarError
from app.services.registration import READ_ONLY_ON_PUT
from app.web.console import forms
from app.web.console.pages import Page, client_id_of, offered_scopes, refillable, signed_in
from app.web.console.render import redirect
from app.web.requests import now

# members of a read the PUT must not send back (RFC 7592 §2.2), and the secret, which the
# service keeps as it is when the PUT does not send it
NOT_PUT_BACK = (*READ_ONLY_ON_PUT, "client_secret")


async def _client_page(
    page: Page, status_code: int = 200, *, edit: dict[str, Any] | None = None, **extra: Any
) -> Response:
    """The client's page; `edit` is what the edit form shows instead of the stored values."""
    client_id = client_id_of(page)
    realm, caller = page.realm, page.caller
    shown = await page.admin.get_client(realm, caller, client_id)
    metadata = await page.registrations.read(realm, client_id, caller)
    if edit is None:
        edit = {
            "client_name": metadata.get("client_name") or "",
            "redirect_uris": "\n".join(metadata.get("redirect_uris", [])),
            "scopes": set(str(metadata.get("scope") or "").split()),
            "enabled": shown["enabled"],
        }
    owner = owns(caller, await page.admin.registered_by(realm, client_id))
    return page.show(
        "client.html",
        status_code,
        client=shown,
        owner=owner,
        client_json=json.dumps(metadata, indent=2, ensure_ascii=False),
        edit=edit,
        scopes=offered_scopes(page),
        restricted=page.realm.scopes.restricted,
        **extra,
    )


@signed_in
async def client_detail(page: Page) -> Response:
    return await _client_page(page)


def _typed(page: Page) -> dict[str, Any]:
    """The edit form as the admin filled it in, to show it again."""
    return {
        "client_name": page.field("client_name"),
        "redirect_uris": page.field("redirect_uris"),
        "scopes": set(page.form.get("scope", [])),
        "enabled": page.field("enabled") == "true",
    }


@signed_in
@refillable(r"/clients/(?P<client_id>.+)/edit")
async def client_edit(page: Page) -> Response:
    """Change name, redirect URIs, scopes and enabled. The PUT replaces the metadata as a whole
    (RFC 7592 §2.2), so the body is the client's current metadata with those members changed."""
    if not page.posted:
        return await _client_page(page, edit=_typed(page) if page.refill else None)
    client_id = client_id_of(page)
    realm, caller = page.realm, page.caller
    owner = await page.admin.registered_by(realm, client_id)
    require_role_or_owner(caller, TO_MANAGE_CLIENTS, owner)
    problems = forms.Problems()
    name = forms.client_name(page.field("client_name"), problems)
    uris = forms.redirect_uris(page.field("redirect_uris"), problems)
    scopes = forms.scopes(page.form.get("scope", []), offered_scopes(page), problems)
    if problems.found:
        return await _client_page(page, 400, edit=_typed(page), form_errors=problems.found)
    current = await page.registrations.read(realm, client_id, caller)
    body = {k: v for k, v in current.items() if k not in NOT_PUT_BACK}
    body["client_id"] = client_id
    for member, value in (("client_name", name), ("redirect_uris", uris)):
        if value:
            body[member] = value
        else:
            body.pop(member, None)
    body["scope"] = " ".join(scopes)
    if not scopes:
        body.pop("scope")  # RFC 7591 §2: the realm's default scopes
    enabled = page.field("enabled") == "true"
    try:
        await page.registrations.update(realm, client_id, caller, body, now())
        # enabling and disabling is an admin's: the form offers it to them only
        admin = holds(caller, TO_MANAGE_CLIENTS)
        if admin and enabled != (await page.admin.get_client(realm, caller, client_id))["enabled"]:
            change = {"enabled": enabled}
            await page.admin.set_client_enabled(realm, caller, client_id, change, now())
    except RegistrarError as exc:
        if exc.status_code == 404:
            raise
        return await _client_page(
            page, exc.status_code, edit=_typed(page), form_errors=[exc.description]
        )
    return redirect(f"{page.base}/clients/{quote(client_id)}?notice=saved")


@signed_in
async def client_enabled(page: Page) -> Response:
    client_id = client_id_of(page)
    enabled = page.field("enabled") == "true"
    await page.admin.set_client_enabled(
        page.realm, page.caller, client_id, {"enabled": enabled}, now()
    )
    notice = "enabled" if enabled else "disabled"
    return redirect(f"{page.base}/clients/{quote(client_id)}?notice={notice}")


@signed_in
async def client_secret(page: Page) -> Response:
    """Keycloak's "Regenerate secret": the new secret shown once, the old one refused."""
    client_id = client_id_of(page)
    secret = await page.registrations.regenerate_secret(page.realm, client_id, page.caller, now())
    return await _client_page(page, regenerated=("Client secret", secret))


@signed_in
async def client_rat(page: Page) -> Response:
    """Keycloak's "Regenerate registration access token": shown once, the old one refused."""
    client_id = client_id_of(page)
    registrations = page.registrations
    rat = await registrations.regenerate_registration_access_token(
        page.realm, client_id, page.caller, now()
    )
    return await _client_page(page, regenerated=("Registration access token", rat))


@signed_in
@refillable(r"/clients/(?P<client_id>.+)/delete")
async def client_delete(page: Page) -> Response:
    """A GET, or a POST without `confirm=yes`, shows what will be deleted; only the
    confirmation's POST deletes."""
    client_id = client_id_of(page)
    if page.posted and page.field("confirm") == "yes":
        await page.registrations.remove(page.realm, client_id, page.caller)
        return redirect(f"{page.base}/clients?notice=deleted")
    owner = await page.admin.registered_by(page.realm, client_id)
    require_role_or_owner(page.caller, TO_MANAGE_CLIENTS, owner)
    shown = await page.admin.get_client(page.realm, page.caller, client_id)
    return page.show(
        "confirm_delete.html",
        what="client",
        title=f"Delete client {shown['name'] or shown['clientId']}?",
        action=f"{page.base}/clients/{quote(client_id)}/delete",
        cancel=f"{page.base}/clients/{quote(client_id)}",
        facts=[
            ("Name", shown["name"] or "(no name)"),
            ("Client id", shown["clientId"]),
            ("Status", "enabled" if shown["enabled"] else "disabled"),
            ("Redirect URIs", ", ".join(shown["redirectUris"]) or "none"),
        ],
        consequence=(
            "Its client id, secret and registration access token stop working at once. "
            "This cannot be undone."
        ),
        section="clients",
    )
