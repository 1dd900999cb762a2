"""Tenant configuration: validated at start-up, errors name the exact key."""

from __future__ import annotations

import copy

import pytest

from onboardkit.accounts import Flow
from onboardkit.errors import ConfigurationError
from onboardkit.tenants import ACCOUNT_ADMIN_PERMISSION, Tenants, UnknownTenant

PRIVACY = {
    "purposes": {
        "privacy": {
            "required": True,
            "versions": [
                {"version": "1", "locales": {"en": {"title": "Privacy", "text": "We process."}}}
            ],
        }
    }
}


def iot() -> dict:
    return {
        "name": "IoT Platform",
        "base_url": "https://iot.example.com/onboarding/",
        "sender": "no-reply@iot.example.com",
        "flows": ["signup", "invitation"],
        "user_types": {
            "customer_admin": {"permissions": [ACCOUNT_ADMIN_PERMISSION, "devices.read"]},
            "partner_user": {"permissions": ["devices.read"]},
        },
        "default_user_type": "customer_admin",
        "partner_user_type": "partner_user",
        "partners": {"enabled": True},
        "fields": {
            "vat_id": {
                "type": "text",
                "max_length": 20,
                "label": {"en": "VAT ID", "de": "USt-IdNr."},
            }
        },
        "consent": PRIVACY,
        "passwords": {"profile": "default", "min_length": 10},
    }


def load(tenant: dict) -> Tenants:
    return Tenants.from_mapping({"tenants": {"iot": tenant}})


def error_key(tenant: dict) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load(tenant)
    return caught.value.params["key"]


def test_a_complete_tenant_loads_with_every_building_block():
    tenant = load(iot()).get_tenant("iot")
    assert tenant.base_url == "https://iot.example.com/onboarding"
    assert tenant.flows == frozenset({Flow.SIGNUP, Flow.INVITATION})
    assert tenant.password_policy.min_length == 10
    assert [field.name for field in tenant.fields.fields] == ["vat_id"]
    assert [doc.purpose for doc in tenant.consents.current("en")] == ["privacy"]
    assert tenant.partners_enabled
    assert tenant.partner_user_type == "partner_user"


def test_an_unknown_tenant_is_a_typed_error_in_both_languages():
    with pytest.raises(UnknownTenant) as caught:
        load(iot()).get_tenant("nope")
    assert caught.value.code == "tenant.unknown"
    assert caught.value.localized("de") == "Dieses Portal ist nicht bekannt."


def test_the_default_user_type_of_customer_sign_ups_must_administer_the_account():
    tenant = iot()
    tenant["user_types"]["customer_admin"]["permissions"] = ["devices.read"]
    assert error_key(tenant) == "tenants.iot.user_types.customer_admin.permissions"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda t: t.update(colour="red"), "tenants.iot.colour"),
        (lambda t: t.pop("name"), "tenants.iot.name"),
        (lambda t: t.update(base_url="http://iot.example.com"), "tenants.iot.base_url"),
        (lambda t: t.update(base_url="https://iot.example.com/?next=x"), "tenants.iot.base_url"),
        (lambda t: t.update(sender="not an address"), "tenants.iot.sender"),
        (lambda t: t.update(sender="a@b.example\r\nBcc: x@y.example"), "tenants.iot.sender"),
        (lambda t: t.update(flows=["signup", "magic"]), "tenants.iot.flows[1]"),
        (lambda t: t.update(default_user_type="ghost"), "tenants.iot.default_user_type"),
        (lambda t: t.pop("default_user_type"), "tenants.iot.default_user_type"),
        (lambda t: t.pop("partner_user_type"), "tenants.iot.partner_user_type"),
        (lambda t: t.update(review={"required": "yes"}), "tenants.iot.review.required"),
        (lambda t: t.update(review={"reviewers": ["x"]}), "tenants.iot.review.reviewers[0]"),
        (lambda t: t.update(lifetimes={"confirmation": 5}), "tenants.iot.lifetimes.confirmation"),
        (lambda t: t.update(default_locale="fr"), "tenants.iot.default_locale"),
        (lambda t: t.update(roles=["a", "a"]), "tenants.iot.roles"),
        (lambda t: t.update(passwords={"min_length": 4}), "tenants.iot.passwords.min_length"),
        (lambda t: t["fields"]["vat_id"].update(type="colour"), "tenants.iot.fields.vat_id.type"),
    ],
)
def test_a_wrong_setting_is_named_by_its_exact_key(change, key):
    tenant = copy.deepcopy(iot())
    change(tenant)
    assert error_key(tenant) == key


def test_http_base_urls_are_allowed_for_localhost_only():
    tenant = iot()
    tenant["base_url"] = "http://localhost:8000/onboarding"
    assert load(tenant).get_tenant("iot").base_url == "http://localhost:8000/onboarding"


def test_a_deployment_declares_at_least_one_tenant():
    with pytest.raises(ConfigurationError) as caught:
        Tenants.from_mapping({"tenants": {}})
    assert caught.value.params["key"] == "tenants"


def test_tenants_load_from_a_toml_file(tmp_path):
    path = tmp_path / "tenants.toml"
    path.write_text(
        """
[tenants.pim]
name = "PIM Portal"
base_url = "https://pim.example.com"
sender = "no-reply@pim.example.com"
flows = ["registration"]
roles = ["viewer", "editor"]

[tenants.pim.review]
required = true
reviewers = ["review@pim.example.com"]

[tenants.pim.fields.customer_number]
type = "text"
required = true
pattern = "[0-9]{6}"
label = { en = "Customer number", de = "Kundennummer" }

[tenants.pim.consent.purposes.privacy]
required = true
[[tenants.pim.consent.purposes.privacy.versions]]
version = "1"
[tenants.pim.consent.purposes.privacy.versions.locales.en]
title = "Privacy"
text = "We process your data."
""",
        encoding="utf-8",
    )
    tenant = Tenants.from_toml(path).get_tenant("pim")
    assert tenant.review_required
    assert tenant.reviewers == ("review@pim.example.com",)


def test_a_broken_toml_file_is_a_configuration_error_naming_the_file(tmp_path):
    path = tmp_path / "tenants.toml"
    path.write_text("[tenants.pim\nname = 1", encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        Tenants.from_toml(path)
    assert caught.value.params["key"] == str(path)
