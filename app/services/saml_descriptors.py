"""SAML 2.0 metadata (an `EntityDescriptor`) read as a Keycloak client representation, for
Keycloak's …/clients-registrations/saml2-entity-descriptor provider.

registrar does not speak SAML: it keeps what the descriptor says (entity id, assertion consumer
services, signing certificates) so the client can be listed, read, updated and deleted like any
other. The XML is hostile until proven otherwise: defusedxml refuses any DTD (so no entity,
internal or external, and no billion laughs) and the body is capped before it is parsed.
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from app.errors import InvalidClientMetadata
from app.rules.client_representation import SAML, Representation, read_representation

MAX_DESCRIPTOR = 64 * 1024  # bytes
MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
_WHITESPACE = re.compile(r"\s+")


def read_entity_descriptor(xml: bytes) -> Representation:
    """The descriptor's client: entityID as clientId, the SP's AssertionConsumerService
    locations as redirect URIs, its signing certificates as attributes. 400 for anything that
    is not a plain SAML 2.0 EntityDescriptor."""
    if len(xml) > MAX_DESCRIPTOR:
        raise InvalidClientMetadata(f"The entity descriptor is larger than {MAX_DESCRIPTOR} bytes")
    try:
        root = fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise InvalidClientMetadata(
            "The entity descriptor must not contain a DTD, entities or external references"
        ) from exc
    except (ParseError, ValueError) as exc:
        raise InvalidClientMetadata("The body is not well-formed XML") from exc
    if root.tag != f"{MD}EntityDescriptor":
        raise InvalidClientMetadata("The body must be a SAML 2.0 md:EntityDescriptor")
    entity_id = (root.get("entityID") or "").strip()
    if not entity_id:
        raise InvalidClientMetadata("The EntityDescriptor has no entityID")
    sp = root.find(f"{MD}SPSSODescriptor")
    if sp is None:
        raise InvalidClientMetadata("The EntityDescriptor has no SPSSODescriptor")
    return read_representation(_representation(entity_id, sp))


def _representation(entity_id: str, sp: Element) -> dict[str, Any]:
    services = sorted(
        sp.findall(f"{MD}AssertionConsumerService"), key=lambda s: _index(s.get("index"))
    )
    locations = list(dict.fromkeys(s.get("Location", "") for s in services if s.get("Location")))
    attributes: dict[str, str] = {}
    if services:
        attributes["saml_assertion_consumer_url_post"] = locations[0] if locations else ""
    signing = _certificates(sp, "signing")
    if signing:
        attributes["saml.signing.certificate"] = signing[0]
    # whether the SP signs its requests, as it says
    signs = sp.get("AuthnRequestsSigned") == "true"
    attributes["saml.client.signature"] = "true" if signs else "false"
    encryption = _certificates(sp, "encryption")
    if encryption:
        attributes["saml.encryption.certificate"] = encryption[0]
        attributes["saml.encrypt"] = "true"
    name_id = sp.findtext(f"{MD}NameIDFormat")
    if name_id:
        attributes["saml_name_id_format"] = name_id.strip()
    slo = sp.find(f"{MD}SingleLogoutService")
    if slo is not None and slo.get("Location"):
        attributes["saml_single_logout_service_url_redirect"] = slo.get("Location", "")
    return {
        "clientId": entity_id,
        "protocol": SAML,
        "redirectUris": locations,
        "attributes": attributes,
        "fullScopeAllowed": True,
    }


def _certificates(sp: Element, use: str) -> list[str]:
    """The base64 certificates of the SP's KeyDescriptors for `use` (no `use`: both)."""
    found = []
    for key in sp.findall(f"{MD}KeyDescriptor"):
        if key.get("use") not in (None, use):
            continue
        text = key.findtext(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
        if text and text.strip():
            found.append(_WHITESPACE.sub("", text))
    return found


def _index(value: str | None) -> int:
    return int(value) if value is not None and value.isdigit() and len(value) < 6 else 0
