"""The registry: advertisers, campaigns, partners and contracts a deployment knows.

The lead reads a YAML or JSON file (``deploy/registry.example.yaml`` documents the shape) and
passes the mapping to :func:`parse_registry`; :func:`load_registry` does both. Sections are
mappings keyed by id (duplicate keys in the file are refused, not silently overwritten)::

    advertisers: {<id>: {name, write_keys, read_keys, allowed_origins, currency,
                         postback_sources: {<source>: {token, hmac_secret, allowed_cidrs}}}}
    campaigns:   {<id>: {advertiser_id, name, landing_url, allowed_redirect_domains,
                         click_param_name, app_id}}
    partners:    {<id>: {partner_type, name}}
    contracts:   [<dict>, ...]     # passed through untouched

Validation problems raise :class:`~tracker.errors.RegistryInvalid`, one line per problem
starting with the dotted path of the field (``campaigns.summer-sale.landing_url: ...``).

Lookups: write/read key -> advertiser (keys are stored as SHA-256 digests and matched by
digest, so lookup time does not depend on how much of a guessed key is right), campaign,
partner and advertiser by id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from tracker.errors import (
    RedirectRefused,
    RegistryInvalid,
    Unauthorized,
    UnknownAdvertiser,
    UnknownCampaign,
    UnknownPartner,
)
from tracker.network import NetworkSet
from tracker.redirects import (
    DEFAULT_CLICK_PARAM,
    AllowedHosts,
    LandingTemplate,
    parse_safe_url,
    resolve_landing_url,
)

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
PartnerType = Literal["affiliate", "influencer", "content", "b2b", "mobile_network", "other"]
MIN_KEY_CHARS = 16
PLACEHOLDER_MARKERS = ("dev-", "changeme", "placeholder")


def _digest(key: str) -> bytes:
    # surrogatepass: a JSON body may carry lone surrogates; they must not crash the lookup.
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def normalise_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` in canonical form, or None if ``origin`` is not an origin."""
    try:
        url = parse_safe_url(origin)
    except RedirectRefused:
        return None
    if url.path != "/" or url.query is not None or url.fragment is not None:
        return None
    return f"{url.scheme}://{url.netloc}"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PostbackSource(_Model):
    """How one attribution provider (appsflyer, adjust, ...) authenticates its postbacks."""

    token: SecretStr | None = None
    hmac_secret: SecretStr | None = None
    allowed_cidrs: tuple[str, ...] = ()
    _networks: NetworkSet = PrivateAttr()

    @field_validator("token", "hmac_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_KEY_CHARS:
            raise ValueError(f"must be at least {MIN_KEY_CHARS} characters")
        return value

    @field_validator("allowed_cidrs")
    @classmethod
    def _valid_cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        NetworkSet.compile(value)
        return value

    @model_validator(mode="after")
    def _has_a_secret(self) -> PostbackSource:
        if self.token is None and self.hmac_secret is None:
            raise ValueError("needs a token, an hmac_secret or both")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._networks = NetworkSet.compile(self.allowed_cidrs)

    @property
    def networks(self) -> NetworkSet | None:
        """The precompiled CIDR allowlist, or None when any address may send."""
        return self._networks if self.allowed_cidrs else None


class Advertiser(_Model):
    id: Slug
    name: str = Field(min_length=1)
    write_keys: tuple[SecretStr, ...] = Field(min_length=1)
    read_keys: tuple[SecretStr, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    currency: Currency = "EUR"
    postback_sources: dict[Slug, PostbackSource] = {}
    _origins: frozenset[str] = PrivateAttr()

    @field_validator("write_keys", "read_keys")
    @classmethod
    def _keys_long_enough(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for i, key in enumerate(value):
            if len(key.get_secret_value()) < MIN_KEY_CHARS:
                raise ValueError(f"key {i} is shorter than {MIN_KEY_CHARS} characters")
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _valid_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if normalise_origin(origin) is None:
                raise ValueError(f"{origin!r} is not an origin like https://shop.example.com")
        return value

    def model_post_init(self, context: Any, /) -> None:
        self._origins = frozenset(
            o for o in (normalise_origin(origin) for origin in self.allowed_origins) if o
        )

    def allows_origin(self, origin: str | None) -> bool:
        """True when the browser ``Origin`` header is one of ``allowed_origins``."""
        normalised = normalise_origin(origin) if origin else None
        return normalised is not None and normalised in self._origins


class Campaign(_Model):
    id: Slug
    advertiser_id: Slug
    name: str | None = None
    landing_url: str
    allowed_redirect_domains: tuple[str, ...] = ()
    click_param_name: str = Field(DEFAULT_CLICK_PARAM, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    app_id: str | None = None
    _allowed_hosts: AllowedHosts = PrivateAttr()
    _landing: LandingTemplate = PrivateAttr()

    @field_validator("landing_url")
    @classmethod
    def _safe_landing_url(cls, value: str) -> str:
        try:
            parse_safe_url(value)
        except RedirectRefused as exc:
            raise ValueError(exc.message) from exc
        return value

    @field_validator("allowed_redirect_domains")
    @classmethod
    def _valid_domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        AllowedHosts.compile(value)
        return value

    def model_post_init(self, context: Any, /) -> None:
        self._allowed_hosts = AllowedHosts.compile(self.allowed_redirect_domains)
        self._landing = LandingTemplate.of(parse_safe_url(self.landing_url), self.click_param_name)

    @property
    def allowed_hosts(self) -> AllowedHosts:
        return self._allowed_hosts

    def redirect_url(self, override_url: str | None, click_id: str) -> str:
        """The landing (or allowed override) URL carrying ``click_id``; see tracker.redirects."""
        if not override_url:
            return self._landing.with_value(click_id)
        return resolve_landing_url(
            self.landing_url,
            override_url,
            self._allowed_hosts,
            click_id=click_id,
            click_param_name=self.click_param_name,
        )


class Partner(_Model):
    id: Slug
    partner_type: PartnerType
    name: str = Field(min_length=1)
    # SKAdNetwork / AdAttributionKit ad network identifiers this partner owns: Apple's
    # postbacks name the network, not the partner, so installs are credited through these
    skan_ad_network_ids: tuple[str, ...] = ()


_SELECTOR_BYTES = 8
_KeyIndex = dict[bytes, tuple[tuple[bytes, str], ...]]


def _key_index(advertisers: Iterable[Advertiser], field: str) -> _KeyIndex:
    """Digest prefix -> ((full digest, advertiser id), ...) for every key in ``field``."""
    index: dict[bytes, list[tuple[bytes, str]]] = {}
    for advertiser in advertisers:
        for key in getattr(advertiser, field):
            digest = _digest(key.get_secret_value())
            index.setdefault(digest[:_SELECTOR_BYTES], []).append((digest, advertiser.id))
    return {selector: tuple(entries) for selector, entries in index.items()}


class Registry(_Model):
    advertisers: dict[Slug, Advertiser] = {}
    campaigns: dict[Slug, Campaign] = {}
    partners: dict[Slug, Partner] = {}
    contracts: list[dict[str, Any]] = []
    _write_keys: _KeyIndex = PrivateAttr()
    _read_keys: _KeyIndex = PrivateAttr()
    _ad_networks: dict[str, Partner] = PrivateAttr()

    @model_validator(mode="before")
    @classmethod
    def _ids_from_keys(cls, data: Any) -> Any:
        """Fill each entry's ``id`` from its mapping key (an explicit ``id`` must agree)."""
        if not isinstance(data, Mapping):
            return data
        out = dict(data)
        for section in ("advertisers", "campaigns", "partners"):
            entries = out.get(section)
            if isinstance(entries, Mapping):
                out[section] = {
                    key: ({"id": key, **entry} if isinstance(entry, Mapping) else entry)
                    for key, entry in entries.items()
                }
        return out

    @model_validator(mode="after")
    def _cross_references(self) -> Registry:
        problems: list[str] = []
        for section in ("advertisers", "campaigns", "partners"):
            entries: dict[str, Advertiser | Campaign | Partner] = getattr(self, section)
            for key, entry in entries.items():
                if entry.id != key:
                    problems.append(f"{section}.{key}.id: {entry.id!r} differs from its key")
        for cid, campaign in self.campaigns.items():
            if campaign.advertiser_id not in self.advertisers:
                problems.append(
                    f"campaigns.{cid}.advertiser_id: no advertiser {campaign.advertiser_id!r}"
                )
        seen: dict[bytes, str] = {}
        for aid, advertiser in self.advertisers.items():
            for field in ("write_keys", "read_keys"):
                keys: tuple[SecretStr, ...] = getattr(advertiser, field)
                for i, secret in enumerate(keys):
                    digest = _digest(secret.get_secret_value())
                    path = f"advertisers.{aid}.{field}.{i}"
                    if digest in seen:
                        problems.append(f"{path}: same key as {seen[digest]}")
                    else:
                        seen[digest] = path
        owners: dict[str, str] = {}
        for pid, partner in self.partners.items():
            for network in partner.skan_ad_network_ids:
                if network in owners:
                    problems.append(
                        f"partners.{pid}.skan_ad_network_ids: {network!r} is also "
                        f"{owners[network]}'s"
                    )
                owners[network] = pid
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._write_keys = _key_index(self.advertisers.values(), "write_keys")
        self._read_keys = _key_index(self.advertisers.values(), "read_keys")
        self._ad_networks = {
            network: partner
            for partner in self.partners.values()
            for network in partner.skan_ad_network_ids
        }

    def partner_for_ad_network(self, ad_network_id: str | None) -> Partner | None:
        """The partner owning a SKAdNetwork / AdAttributionKit ad network id, if any."""
        return self._ad_networks.get(ad_network_id or "")

    def _by_key(self, index: _KeyIndex, key: str | None, kind: str) -> Advertiser:
        if not key:
            raise Unauthorized(f"no {kind} key", reason=f"{kind}_key_missing")
        digest = _digest(key)
        # Look up by the first bytes of the digest, then compare whole digests in constant
        # time: no code path compares key material, and timing reveals nothing usable.
        for stored, advertiser_id in index.get(digest[:_SELECTOR_BYTES], ()):
            if hmac.compare_digest(stored, digest):
                return self.advertisers[advertiser_id]
        raise Unauthorized(f"unknown {kind} key", reason=f"{kind}_key_unknown")

    def advertiser_for_write_key(self, key: str | None) -> Advertiser:
        """The advertiser owning a write key; Unauthorized (write_key_missing/_unknown) if none."""
        return self._by_key(self._write_keys, key, "write")

    def advertiser_for_read_key(self, key: str | None) -> Advertiser:
        """The advertiser owning a read key; Unauthorized (read_key_missing/_unknown) if none."""
        return self._by_key(self._read_keys, key, "read")

    def advertiser(self, advertiser_id: str) -> Advertiser:
        try:
            return self.advertisers[advertiser_id]
        except KeyError:
            raise UnknownAdvertiser(f"no advertiser {advertiser_id!r}") from None

    def campaign(self, campaign_id: str) -> Campaign:
        try:
            return self.campaigns[campaign_id]
        except KeyError:
            raise UnknownCampaign(f"no campaign {campaign_id!r}") from None

    def partner(self, partner_id: str) -> Partner:
        try:
            return self.partners[partner_id]
        except KeyError:
            raise UnknownPartner(f"no partner {partner_id!r}") from None

    def development_placeholders(self) -> tuple[str, ...]:
        """Paths of secrets that look like development placeholders (``dev-...``).

        The collector refuses to start outside development while this is not empty.
        """
        found: list[str] = []

        def check(path: str, secret: SecretStr | None) -> None:
            if secret is not None and any(
                m in secret.get_secret_value().lower() for m in PLACEHOLDER_MARKERS
            ):
                found.append(path)

        for aid, adv in self.advertisers.items():
            for field in ("write_keys", "read_keys"):
                for i, key in enumerate(getattr(adv, field)):
                    check(f"advertisers.{aid}.{field}.{i}", key)
            for name, source in adv.postback_sources.items():
                check(f"advertisers.{aid}.postback_sources.{name}.token", source.token)
                check(f"advertisers.{aid}.postback_sources.{name}.hmac_secret", source.hmac_secret)
        return tuple(found)


def _problems(exc: ValidationError) -> tuple[str, ...]:
    lines: list[str] = []
    for err in exc.errors(include_url=False, include_input=False):
        msg = str(err["msg"]).removeprefix("Value error, ")
        path = ".".join(str(part) for part in err["loc"])
        if path:
            lines.append(f"{path}: {msg}")
        else:
            lines.extend(msg.splitlines())
    return tuple(lines)


def parse_registry(data: Mapping[str, Any]) -> Registry:
    """Validate a registry mapping; RegistryInvalid lists every problem with its path."""
    if not isinstance(data, Mapping):
        raise RegistryInvalid(("(top level): must be a mapping",))
    try:
        return Registry.model_validate(data)
    except ValidationError as exc:
        raise RegistryInvalid(_problems(exc)) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate mapping keys instead of keeping the last one."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node, deep=True))


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def _json_unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def load_registry(path: str | Path) -> Registry:
    """Read a ``.yaml``/``.yml``/``.json`` registry file and parse it (the one IO here)."""
    path = Path(path)
    if path.suffix not in {".yaml", ".yml", ".json"}:
        raise RegistryInvalid((f"{path}: extension must be .yaml, .yml or .json",))
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            data = json.loads(text, object_pairs_hook=_json_unique)
        else:
            data = yaml.load(text, Loader=_UniqueKeyLoader)
    except (yaml.YAMLError, ValueError) as exc:
        raise RegistryInvalid((f"{path}: {exc}",)) from exc
    return parse_registry(data if data is not None else {})
