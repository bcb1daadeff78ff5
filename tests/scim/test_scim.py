#!/usr/bin/env python3
"""End-to-end SCIM 2.0 (RFC 7643/7644) test of one Gatehouse application.

The server is driven through an independent SCIM client, scim2-client (with
scim2-models), which builds the requests, parses the answers and validates them
against its own reading of the RFCs. Where the library cannot express a request
(identity-provider quirks, deliberately malformed requests), the library's raw
escape hatch or a plain httpx2 request is used, and the answer is still read
with scim2-models where it makes sense.

Environment:
  SCIM_BASE_URL        base URL of the application's SCIM service,
                       e.g. http://alpha.localhost:18181/auth/scim/v2
  SCIM_TOKEN           a SCIM bearer token of that application
  SCIM_OTHER_TOKEN     a SCIM bearer token of ANOTHER application (must be refused)
  SCIM_CONNECT         optional host:port to connect to instead of the URL's host
                       (the Host header still carries the URL's host)
  SCIM_OTHER_BASE_URL  optional base URL of the other application; enables the
                       cross-application isolation checks
  SCIM_CAP_USERS       optional number of users created to test the count cap
                       (default 201; 0 skips that check)
  SCIM_VERBOSE         optional; 1 prints every check's exchanges

Exit status: 0 when every check passed, 1 otherwise. The last line reads
"N passed, N failed".
"""

import datetime
import json
import os
import sys
import time
import traceback
import uuid
from contextlib import contextmanager

import httpx2
from pydantic import ValidationError
from scim2_client import SCIMClientException
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import (
    Context,
    Email,
    EnterpriseUser,
    Error,
    Group,
    GroupMember,
    ListResponse,
    Manager,
    Name,
    PatchOp,
    PatchOperation,
    ResourceType,
    ResponseParameters,
    Schema,
    SCIMException,
    ScimProvider,
    SearchRequest,
    ServiceProviderConfig,
    User,
)

# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------

try:
    BASE_URL = os.environ["SCIM_BASE_URL"].rstrip("/")
    TOKEN = os.environ["SCIM_TOKEN"].strip()
    OTHER_TOKEN = os.environ["SCIM_OTHER_TOKEN"].strip()
except KeyError as missing:
    sys.exit(f"missing environment variable {missing}; see the docstring of {sys.argv[0]}")
CONNECT = os.environ.get("SCIM_CONNECT", "").strip()
OTHER_BASE_URL = os.environ.get("SCIM_OTHER_BASE_URL", "").strip().rstrip("/")
CAP_USERS = int(os.environ.get("SCIM_CAP_USERS", "201"))
VERBOSE = os.environ.get("SCIM_VERBOSE", "") not in ("", "0")

RUN = "e2e" + uuid.uuid4().hex[:8]  # every name this run makes starts with it
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH_URN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"

UserE = User[EnterpriseUser]

# --------------------------------------------------------------------------
# HTTP plumbing: connect override and an exchange log
# --------------------------------------------------------------------------

EXCHANGES = []  # every request/response, in order
THROTTLED = []  # the 429 answers the transport waited out


class ConnectTransport(httpx2.HTTPTransport):
    """Connect to SCIM_CONNECT while keeping the URL (and so the Host header)."""

    def __init__(self, connect):
        super().__init__()
        self.host, self.port = None, None
        if connect:
            host, _, port = connect.rpartition(":")
            self.host, self.port = host.strip("[]"), int(port)

    def handle_request(self, request):
        if self.host:
            request.url = request.url.copy_with(host=self.host, port=self.port)
        # A rate-limited request (429) is retried after Retry-After, as an IdP would.
        for _ in range(10):
            response = super().handle_request(request)
            if response.status_code != 429:
                return response
            response.read()
            THROTTLED.append({"method": request.method, "url": str(request.url),
                              "retry_after": response.headers.get("retry-after"),
                              "content_type": response.headers.get("content-type", ""),
                              "body": response.text})
            response.close()
            try:
                delay = float(response.headers.get("retry-after") or 1)
            except ValueError:
                delay = 1.0
            time.sleep(min(max(delay, 0.1), 30))
        return response


def _on_request(request):
    EXCHANGES.append({"method": request.method, "url": str(request.url),
                      "body": request.content, "resp": None})


def _on_response(response):
    response.read()
    if EXCHANGES:
        EXCHANGES[-1]["resp"] = response


def http_client(base_url, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.Client(
        base_url=base_url,
        headers=headers,
        transport=ConnectTransport(CONNECT),
        event_hooks={"request": [_on_request], "response": [_on_response]},
        timeout=30,
    )


HTTP = http_client(BASE_URL, TOKEN)          # used by the SCIM client
PLAIN = http_client(BASE_URL)                # no Authorization header
OTHER_HTTP = http_client(OTHER_BASE_URL, OTHER_TOKEN) if OTHER_BASE_URL else None


def raw(method, path, token=TOKEN, client=None, **kwargs):
    """A request outside the SCIM library (for quirks and malformed requests)."""
    client = client or PLAIN
    headers = dict(kwargs.pop("headers", {}) or {})
    if token is not None:
        headers.setdefault("Authorization", f"Bearer {token}")
    if "json" in kwargs:
        body = kwargs.pop("json")
        kwargs["content"] = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/scim+json")
    headers.setdefault("Accept", "application/scim+json")
    return client.request(method, path, headers=headers, **kwargs)


def last_response():
    for exchange in reversed(EXCHANGES):
        if exchange["resp"] is not None:
            return exchange["resp"]
    return None


def fmt_exchange(exchange, limit=1200):
    body = exchange["body"] or b""
    text = body.decode(errors="replace")
    lines = [f"    > {exchange['method']} {exchange['url']}"]
    if text:
        lines.append("    > " + (text if len(text) <= limit else text[:limit] + "…"))
    resp = exchange["resp"]
    if resp is None:
        lines.append("    < (no response)")
    else:
        ctype = resp.headers.get("content-type", "")
        rtext = resp.text
        lines.append(f"    < {resp.status_code} content-type: {ctype}")
        if rtext:
            lines.append("    < " + (rtext if len(rtext) <= limit else rtext[:limit] + "…"))
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------

RESULTS = []  # (name, status, message, exchanges)
NOTES = []    # things the library refused or could not express


class Skip(Exception):
    pass


class CheckFailed(AssertionError):
    pass


def need(*values):
    """Skip a check whose prerequisites (made by earlier checks) are missing."""
    for value in values:
        if value is None:
            raise Skip("a prerequisite check failed")


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def eq(actual, expected, what):
    if actual != expected:
        raise CheckFailed(f"{what}: expected {expected!r}, got {actual!r}")


@contextmanager
def check(name):
    start = len(EXCHANGES)
    try:
        yield
    except Skip as exc:
        RESULTS.append((name, "SKIP", str(exc), []))
        print(f"SKIP  {name}: {exc}")
    except Exception as exc:  # noqa: BLE001 - every failure is reported
        if isinstance(exc, (CheckFailed, AssertionError)):
            message = str(exc) or "assertion failed"
        else:
            message = "".join(traceback.format_exception_only(exc)).strip()
        exchanges = EXCHANGES[start:]
        RESULTS.append((name, "FAIL", message, exchanges))
        print(f"FAIL  {name}\n      {message}")
        for exchange in exchanges[-3:]:
            print(fmt_exchange(exchange))
    else:
        RESULTS.append((name, "PASS", "", EXCHANGES[start:]))
        print(f"PASS  {name}")
        if VERBOSE:
            for exchange in EXCHANGES[start:]:
                print(fmt_exchange(exchange, 400))


def note(message):
    NOTES.append(message)
    print(f"NOTE  {message}")


def body_of(resp):
    try:
        return resp.json()
    except ValueError:
        return None


def assert_scim_error(resp, status, scim_type=None, scim_types=None):
    """An RFC 7644 §3.12 error document with the given HTTP status."""
    expect(resp is not None, "no response")
    eq(resp.status_code, status, "HTTP status")
    ctype = resp.headers.get("content-type", "").split(";")[0].strip()
    eq(ctype, "application/scim+json", "error Content-Type")
    body = body_of(resp)
    expect(isinstance(body, dict), f"error body is not a JSON object: {resp.text[:300]!r}")
    eq(body.get("schemas"), [ERROR_URN], "error schemas")
    expect(isinstance(body.get("status"), str),
           f"error 'status' must be a JSON string (RFC 7644 §3.12), got {body.get('status')!r}")
    eq(body.get("status"), str(status), "error status")
    wanted = scim_types or ([scim_type] if scim_type else None)
    if wanted:
        expect(body.get("scimType") in wanted,
               f"error scimType: expected {' or '.join(wanted)}, got {body.get('scimType')!r}")
    Error.model_validate(body)  # scim2-models reads it as an Error message
    return body


def assert_lib_error(result, status, scim_type=None, scim_types=None):
    """The library returned an Error object (raise_scim_errors=False); check it and the wire."""
    expect(isinstance(result, Error),
           f"expected a SCIM error {status}, the library returned {type(result).__name__}: "
           f"{_short(result)}")
    eq(result.status, status, "Error.status")
    return assert_scim_error(last_response(), status, scim_type, scim_types)


def _short(obj, limit=300):
    try:
        text = obj.model_dump_json(by_alias=True) if hasattr(obj, "model_dump_json") else repr(obj)
    except Exception:  # noqa: BLE001
        text = repr(obj)
    return text if len(text) <= limit else text[:limit] + "…"


def patch_body(*operations):
    return {"schemas": [PATCH_URN], "Operations": list(operations)}


# --------------------------------------------------------------------------
# The SCIM clients
# --------------------------------------------------------------------------

def static_provider(resource_types=None, config=None):
    return ScimProvider(
        models=[User, EnterpriseUser, Group],
        resource_types=resource_types or [ResourceType.from_resource(UserE),
                                          ResourceType.from_resource(Group)],
        config=config,
    )


scim = SyncSCIMClient(HTTP, provider=static_provider(), raise_scim_errors=False)
dyn = None  # a client whose models are built from the server's own /Schemas

created_users = []   # ids to clean up
created_groups = []


def create_user(resource, **kwargs):
    result = scim.create(resource, **kwargs)
    if isinstance(result, User) and result.id:
        created_users.append(result.id)
    return result


def create_group(resource, **kwargs):
    result = scim.create(resource, **kwargs)
    if isinstance(result, Group) and result.id:
        created_groups.append(result.id)
    return result


def get_user(user_id):
    result = scim.query(UserE, user_id)
    expect(isinstance(result, User), f"GET /Users/{user_id}: {_short(result)}")
    return result


def get_group(group_id):
    result = scim.query(Group, group_id)
    expect(isinstance(result, Group), f"GET /Groups/{group_id}: {_short(result)}")
    return result


def ent(user):
    return user[EnterpriseUser]


def member_ids(group):
    return sorted(m.value for m in (group.members or []))


def group_ids_of(user):
    return sorted(g.value for g in (user.groups or []))


# --------------------------------------------------------------------------
# Filters: the library builds and validates the request when it can
# --------------------------------------------------------------------------

def search_users(filter_=None, refuse_ok=True, **params):
    """GET /Users with a filter; returns the list of users (validated)."""
    try:
        request = SearchRequest[UserE](filter=filter_, **params) if filter_ is not None \
            else SearchRequest[UserE](**params)
    except (ValidationError, SCIMException) as exc:
        if not refuse_ok:
            raise
        note(f"scim2-models refused the filter {filter_!r} client-side "
             f"({type(exc).__name__}: {str(exc).splitlines()[0]}); sent unchecked")
        query = {"filter": filter_}
        query.update({_camel(k): v for k, v in params.items()})
        result = scim.query(UserE, query_parameters=query, check_request_payload=False,
                            check_response_payload=True)
        return _as_list(result, UserE)
    result = scim.query(UserE, query_parameters=request)
    return _as_list(result, UserE)


def _camel(name):
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _as_list(result, model):
    if isinstance(result, dict):  # unchecked request: validate the answer ourselves
        result = ListResponse[model].model_validate(result, scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    expect(isinstance(result, ListResponse), f"expected a ListResponse, got {_short(result)}")
    return result


def names(list_response):
    return sorted(u.user_name for u in (list_response.resources or []))


# --------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------

def main():
    global scim, dyn
    print(f"SCIM base URL: {BASE_URL}  (connect: {CONNECT or 'from the URL'})  run: {RUN}")

    spc = resource_types = schemas = None

    # ---------------------------------------------------------------- discovery
    with check("discovery: GET /ServiceProviderConfig through the library"):
        spc = scim.query(ServiceProviderConfig)
        expect(isinstance(spc, ServiceProviderConfig), f"got {_short(spc)}")
        eq(spc.patch.supported, True, "patch.supported")
        eq(spc.filter.supported, True, "filter.supported")
        eq(spc.filter.max_results, 200, "filter.maxResults")
        eq(spc.bulk.supported, False, "bulk.supported")
        eq(spc.sort.supported, False, "sort.supported")
        eq(spc.etag.supported, False, "etag.supported")
        eq(spc.change_password.supported, False, "changePassword.supported")
        expect(spc.authentication_schemes, "authenticationSchemes is empty")

    with check("discovery: GET /ResourceTypes lists User (with the enterprise extension) and Group"):
        listing = scim.query(ResourceType)
        expect(isinstance(listing, ListResponse), f"got {_short(listing)}")
        by_name = {rt.name: rt for rt in listing.resources or []}
        eq(sorted(by_name), ["Group", "User"], "resource type names")
        eq(by_name["User"].endpoint, "/Users", "User endpoint")
        eq(str(by_name["User"].schema_), CORE_USER, "User schema")
        exts = {str(e.schema_): e.required for e in by_name["User"].schema_extensions or []}
        eq(exts, {ENT: False}, "User schemaExtensions")
        eq(by_name["Group"].endpoint, "/Groups", "Group endpoint")
        eq(str(by_name["Group"].schema_), CORE_GROUP, "Group schema")
        eq(listing.total_results, 2, "totalResults")
        resource_types = listing.resources

    with check("discovery: GET /ResourceTypes/User and /ResourceTypes/Group"):
        for name in ("User", "Group"):
            rt = scim.query(ResourceType, name)
            expect(isinstance(rt, ResourceType), f"/ResourceTypes/{name}: {_short(rt)}")
            eq(rt.name, name, "name")
            eq(rt.id, name, "id")

    with check("discovery: GET /ResourceTypes/Nope is 404"):
        assert_lib_error(scim.query(ResourceType, "Nope"), 404)

    expected_attrs = {
        CORE_USER: {
            "id", "externalId", "userName", "name", "displayName", "title", "userType",
            "preferredLanguage", "locale", "timezone", "active", "emails", "groups", "meta"},
        ENT: {"employeeNumber", "costCenter", "organization", "division", "department", "manager"},
        CORE_GROUP: {"id", "externalId", "displayName", "members", "meta"},
    }
    expected_subs = {
        (CORE_USER, "name"): {"formatted", "givenName", "familyName"},
        (CORE_USER, "emails"): {"value", "type", "primary", "display"},
        (ENT, "manager"): {"value", "displayName", "$ref"},
        (CORE_GROUP, "members"): {"value", "display", "$ref", "type"},
    }

    def check_schema(schema):
        urn = schema.id
        attrs = {a.name: a for a in schema.attributes or []}
        eq(set(attrs), expected_attrs[urn], f"attributes of {urn}")
        for (s_urn, attr), subs in expected_subs.items():
            if s_urn == urn:
                got = {s.name for s in attrs[attr].sub_attributes or []}
                eq(got, subs, f"sub-attributes of {urn}:{attr}")
        if urn == CORE_USER:
            eq(str(attrs["groups"].mutability.value), "readOnly", "User groups mutability")
            eq(bool(attrs["userName"].required), True, "userName required")
            eq(str(attrs["userName"].uniqueness.value), "server", "userName uniqueness")
            eq(str(attrs["active"].type.value), "boolean", "active type")
        if "id" in attrs:
            eq(str(attrs["id"].mutability.value), "readOnly", f"{urn} id mutability")

    with check("discovery: GET /Schemas has the core User, enterprise User and Group schemas as described"):
        listing = scim.query(Schema)
        expect(isinstance(listing, ListResponse), f"got {_short(listing)}")
        got = {s.id: s for s in listing.resources or []}
        eq(set(got), set(expected_attrs), "schema ids")
        for schema in got.values():
            check_schema(schema)
        schemas = listing.resources

    with check("discovery: GET /Schemas/{urn} for each schema"):
        for urn in expected_attrs:
            schema = scim.query(Schema, urn)
            expect(isinstance(schema, Schema), f"/Schemas/{urn}: {_short(schema)}")
            eq(schema.id, urn, "id")
            check_schema(schema)

    with check("discovery: GET /Schemas/urn:unknown is 404"):
        assert_lib_error(scim.query(Schema, "urn:ietf:params:scim:schemas:core:2.0:Nope"), 404)

    with check("discovery: scim2-client discover() builds a coherent provider from the server's description"):
        dyn = SyncSCIMClient(HTTP, raise_scim_errors=False)
        dyn.discover()
        expect(dyn.get_resource_model("User") is not None, "no User model discovered")
        expect(dyn.get_resource_model("Group") is not None, "no Group model discovered")

    if resource_types or spc:
        scim = SyncSCIMClient(HTTP, provider=static_provider(resource_types, spc),
                              raise_scim_errors=False)

    # -------------------------------------------------------------- auth
    with check("auth: no token is 401 with a SCIM error"):
        assert_scim_error(raw("GET", "/Users", token=None), 401)

    with check("auth: the other application's token is 401"):
        assert_scim_error(raw("GET", "/Users", token=OTHER_TOKEN), 401)
        assert_scim_error(raw("GET", "/ServiceProviderConfig", token=OTHER_TOKEN), 401)

    with check("auth: a made-up token is 401"):
        assert_scim_error(raw("GET", "/Users", token="ghscim_" + "x" * 40), 401)

    with check("auth: 401 answers carry WWW-Authenticate (RFC 7235 §3.1)"):
        resp = raw("GET", "/Users", token=None)
        expect(resp.headers.get("www-authenticate"),
               "401 without a WWW-Authenticate header")

    # -------------------------------------------------------------- users: create
    alice = bob = carol = None
    p = f"{RUN}-f-"  # prefix of the filter fixtures
    alice_in = UserE(
        user_name=f"{p}alice@example.com",
        external_id=f"{RUN}-ext-alice",
        name=Name(given_name="Alice", family_name="Anders", formatted="Alice Anders"),
        display_name="Alice Anders",
        title="Engineer",
        user_type="Employee",
        preferred_language="en-US",
        locale="en-US",
        timezone="Europe/Paris",
        active=True,
        emails=[Email(value=f"alice.work@{RUN}.example.com", type="work", primary=True),
                Email(value=f"alice.home@{RUN}.example.com", type="home", display="Home")],
    )
    alice_in[EnterpriseUser] = EnterpriseUser(
        employee_number="1001", cost_center="CC-1", organization="Acme",
        division="R&D", department="Engineering")

    alice_raw = None
    with check("users: POST a user with every attribute (library create, 201)"):
        alice = create_user(alice_in)
        expect(isinstance(alice, User), f"create returned {_short(alice)}")
        eq(last_response().status_code, 201, "status")
        alice_raw = body_of(last_response())
        expect(alice.id, "no id")
        for attr in ("user_name", "external_id", "display_name", "title", "active"):
            eq(getattr(alice, attr), getattr(alice_in, attr), attr)
        eq((alice.name.given_name, alice.name.family_name), ("Alice", "Anders"), "name")
        work = [(e.value, bool(e.primary)) for e in alice.emails or [] if e.type == "work"]
        eq(work, [(f"alice.work@{RUN}.example.com", True)], "the primary work e-mail")
        e = ent(alice)
        expect(e is not None, "enterprise extension missing from the answer")
        eq((e.employee_number, e.cost_center, e.organization, e.division, e.department),
           ("1001", "CC-1", "Acme", "R&D", "Engineering"), "enterprise attributes")
        expect(ENT in alice_raw.get("schemas", []), "schemas lacks the enterprise URN")
        eq(alice.meta.resource_type, "User", "meta.resourceType")
        expect(alice.meta.created and alice.meta.last_modified, "meta.created/lastModified missing")

    with check("users: userType, preferredLanguage, locale, timezone (advertised readWrite) are kept"):
        need(alice)
        got = get_user(alice.id)
        lost = {attr: (getattr(alice_in, attr), getattr(got, attr))
                for attr in ("user_type", "preferred_language", "locale", "timezone")
                if getattr(got, attr) != getattr(alice_in, attr)}
        expect(not lost, "sent vs read back: " + ", ".join(f"{k}: {v[0]!r} -> {v[1]!r}" for k, v in lost.items()))

    # Gatehouse keeps one address per user: the primary one (else the work
    # one, else the first); the others are not kept, as for any attribute
    # it does not store (documented in docs/provisioning.md).
    with check("users: the primary of the multi-valued emails is the address kept"):
        need(alice)
        got = get_user(alice.id)
        emails = {(e.type, e.value, bool(e.primary)) for e in got.emails or []}
        eq(emails, {("work", f"alice.work@{RUN}.example.com", True)}, "emails")

    with check("users: meta.created/lastModified in the POST answer are the stored ones (as GET answers them)"):
        need(alice, alice_raw)
        got = body_of(raw("GET", f"/Users/{alice.id}"))
        for attr in ("created", "lastModified"):
            expect(alice_raw["meta"][attr] == got["meta"][attr],
                   f"meta.{attr}: POST answered {alice_raw['meta'][attr]!r}, GET answers {got['meta'][attr]!r}")

    with check("users: unassigned attributes are omitted, not empty strings (RFC 7643 §2.5)"):
        resp = raw("POST", "/Users", json={"schemas": [CORE_USER], "userName": f"{RUN}-bare@example.com"})
        eq(resp.status_code, 201, f"status ({resp.text[:300]})")
        body = resp.json()
        created_users.append(body["id"])
        empty = [k for k, v in body.items() if v == ""]
        empty += [f"name.{k}" for k, v in (body.get("name") or {}).items() if v == ""]
        expect(not empty, f"attributes answered as empty strings: {empty}")

    with check("filter: 'displayName pr' does not match a user created without displayName or name"):
        result = search_users(f'userName eq "{RUN}-bare@example.com" and displayName pr')
        eq(names(result), [], "users matching")

    with check("users: 201 carries Location equal to meta.location (RFC 7644 §3.3)"):
        need(alice)
        resp = [x["resp"] for x in EXCHANGES if x["method"] == "POST" and x["resp"] is not None
                and x["resp"].status_code == 201][0]
        location = resp.headers.get("location")
        expect(location, "no Location header")
        eq(location, alice.meta.location, "Location vs meta.location")
        expect(location.endswith("/Users/" + alice.id), f"Location {location} does not end with the id")

    with check("users: GET by id returns the same representation"):
        need(alice)
        got = get_user(alice.id)
        eq(got.user_name, alice.user_name, "userName")
        eq(got.title, "Engineer", "title")
        eq(ent(got).department, "Engineering", "department")
        eq(ent(got).employee_number, "1001", "employeeNumber")
        eq(got.groups or [], [], "groups")

    with check("users: POST with a userName that is an e-mail and no emails (201, e-mail derived)"):
        bob_in = UserE(user_name=f"{p}bob@example.com", display_name="Bob Brown",
                       title="Manager", active=False)
        bob_in[EnterpriseUser] = EnterpriseUser(department="Sales")
        bob = create_user(bob_in)
        expect(isinstance(bob, User), f"create returned {_short(bob)}")
        eq(bob.active, False, "active")
        expect(any(e.value == f"{p}bob@example.com" for e in bob.emails or []),
               f"emails {bob.emails} lack the userName")

    with check("users: POST with a non-e-mail userName and an email (201)"):
        carol_in = UserE(user_name=f"{p}carol", display_name="Carol Clark",
                         emails=[Email(value=f"carol@{RUN}.example.com", type="work", primary=True)])
        carol_in[EnterpriseUser] = EnterpriseUser(department="Engineering")
        carol = create_user(carol_in)
        expect(isinstance(carol, User), f"create returned {_short(carol)}")
        eq(carol.user_name, f"{p}carol", "userName")
        eq(carol.active, True, "active defaults to true")

    with check("users: POST keeps a displayName that differs from name"):
        result = create_user(UserE(user_name=f"{RUN}-nick@example.com", display_name="Nick",
                                   name=Name(given_name="Nicholas", family_name="Smith")))
        expect(isinstance(result, User), f"create returned {_short(result)}")
        eq(result.display_name, "Nick", "displayName in the answer")
        eq(get_user(result.id).display_name, "Nick", "displayName after GET")

    with check("users: POST with a non-e-mail userName and no emails is 400 invalidValue"):
        result = create_user(UserE(user_name=f"{RUN}-noemail"))
        assert_lib_error(result, 400, "invalidValue")

    with check("users: POST without userName is 400 invalidValue"):
        try:
            result = create_user(UserE(display_name="nobody",
                                       emails=[Email(value=f"nobody@{RUN}.example.com")]))
        except (SCIMException, ValidationError) as exc:
            note(f"scim2-client refuses a User without userName client-side ({type(exc).__name__}); sent raw")
            result = scim.create(UserE, {"schemas": [CORE_USER], "displayName": "nobody",
                                         "emails": [{"value": f"nobody@{RUN}.example.com"}]},
                                 check_request_payload=False, url="/Users")
        assert_lib_error(result, 400, "invalidValue")

    with check("users: POST of a taken userName (other case) is 409 uniqueness"):
        need(alice)
        result = create_user(UserE(user_name=f"{p}ALICE@Example.COM"))
        assert_lib_error(result, 409, "uniqueness")

    with check("users: POST of a taken userName (same case) is 409 uniqueness"):
        need(alice)
        result = create_user(UserE(user_name=f"{p}alice@example.com"))
        assert_lib_error(result, 409, "uniqueness")

    with check("users: POST ignores read-only groups/id/meta sent by a client (Okta sends \"groups\": [])"):
        resp = raw("POST", "/Users", json={
            "schemas": [CORE_USER], "userName": f"{RUN}-okta@example.com",
            "name": {"givenName": "Okta", "familyName": "User"},
            "emails": [{"primary": True, "value": f"{RUN}-okta@example.com", "type": "work"}],
            "displayName": "Okta User", "locale": "en-US", "externalId": f"{RUN}-00uokta",
            "groups": [], "active": True})
        eq(resp.status_code, 201, f"status ({resp.text[:300]})")
        created_users.append(resp.json()["id"])
        UserE.model_validate(resp.json(), scim_ctx=Context.RESOURCE_CREATION_RESPONSE)

    # -------------------------------------------------------------- users: filters
    def expect_names(filter_, expected, **params):
        result = search_users(filter_, **params)
        eq(names(result), sorted(expected), f"users matching {filter_!r}")
        eq(result.total_results, len(expected), "totalResults")
        return result

    A, B, C = f"{p}alice@example.com", f"{p}bob@example.com", f"{p}carol"
    pre = f'userName sw "{p}"'

    def fcheck(label, filter_, expected):
        with check(f"filter: {label}: {filter_}"):
            need(alice, bob, carol)
            expect_names(filter_, expected)

    fcheck("eq, case-insensitive on userName", f'userName eq "{p.upper()}ALICE@EXAMPLE.COM"', [A])
    fcheck("sw", pre, [A, B, C])
    fcheck("ew", f'{pre} and userName ew "-carol"', [C])
    fcheck("co", f'{pre} and displayName co "rown"', [B])
    fcheck("co case-insensitive", f'{pre} and displayName co "ALICE"', [A])
    fcheck("ne", f'{pre} and {ENT}:department ne "Engineering"', [B])
    fcheck("pr", f'{pre} and title pr', [A, B])
    fcheck("not + pr", f'{pre} and not (title pr)', [C])
    fcheck("or in parentheses", f'{pre} and (title eq "Engineer" or title eq "Manager")', [A, B])
    fcheck("not with eq", f'{pre} and not ({ENT}:department eq "Engineering")', [B])
    fcheck("boolean active eq false", f'{pre} and active eq false', [B])
    fcheck("emails.value", f'emails.value eq "alice.work@{RUN}.example.com"', [A])
    fcheck("emails value filter (RFC valuePath)",
           f'emails[type eq "work" and value co "alice.work"]', [A])
    fcheck("emails[type eq \"work\"].value (the brief's path; not in RFC 7644's filter ABNF)",
           f'emails[type eq "work"].value eq "carol@{RUN}.example.com"', [C])
    fcheck("enterprise URN path", f'{pre} and {ENT}:department eq "Engineering"', [A, C])
    fcheck("enterprise employeeNumber", f'{ENT}:employeeNumber eq "1001" and {pre}', [A])
    fcheck("externalId eq (Entra ID lookup)", f'externalId eq "{RUN}-ext-alice"', [A])
    fcheck("externalId eq, no match", f'externalId eq "{RUN}-ext-nobody"', [])
    fcheck("meta.lastModified gt an old date", f'{pre} and meta.lastModified gt "2000-01-01T00:00:00Z"', [A, B, C])
    fcheck("meta.lastModified lt an old date", f'{pre} and meta.lastModified lt "2000-01-01T00:00:00Z"', [])
    if alice and bob and carol:
        # the stored timestamps, as GET answers them
        a_lm, b_lm, c_lm = (body_of(raw("GET", f"/Users/{u.id}"))["meta"]["lastModified"]
                            for u in (alice, bob, carol))
        if a_lm:
            fcheck("meta.lastModified gt (alice's own timestamp)", f'{pre} and meta.lastModified gt "{a_lm}"', [B, C])
            fcheck("meta.lastModified ge", f'{pre} and meta.lastModified ge "{a_lm}"', [A, B, C])
        fcheck("meta.lastModified lt", f'{pre} and meta.lastModified lt "{b_lm}"', [A])
        fcheck("meta.lastModified le", f'{pre} and meta.lastModified le "{c_lm}"', [A, B, C])

    # -------------------------------------------------------------- users: paging & projection
    with check("list: startIndex/count pages through the results"):
        need(alice, bob, carol)
        seen = []
        for start in (1, 2, 3):
            page = search_users(pre, start_index=start, count=1)
            eq(page.total_results, 3, "totalResults")
            eq(page.start_index, start, "startIndex")
            eq(page.items_per_page, 1, "itemsPerPage")
            eq(len(page.resources or []), 1, "resources on the page")
            seen.append(page.resources[0].user_name)
        eq(sorted(seen), sorted([A, B, C]), "users across the pages")
        page = search_users(pre, start_index=4, count=10)
        eq(len(page.resources or []), 0, "resources past the end")
        eq(page.total_results, 3, "totalResults past the end")

    with check("list: count=0 answers only totalResults"):
        need(alice, bob, carol)
        resp = raw("GET", "/Users", params={"filter": pre, "count": "0"})
        eq(resp.status_code, 200, "status")
        body = resp.json()
        eq(body.get("totalResults"), 3, "totalResults")
        eq(body.get("Resources") or [], [], "Resources")
        try:
            search_users(pre, count=0)
        except SCIMClientException as exc:
            note("scim2-client refuses a count=0 ListResponse that has totalResults > 0 but no "
                 f"'Resources' ({str(exc)}: {' '.join(getattr(exc, '__notes__', []))[:200]}); "
                 "RFC 7644 §3.4.2.4 allows it, checked raw")

    with check("list: startIndex < 1 is read as 1 and count < 0 as 0 (RFC 7644 §3.4.2.4)"):
        need(alice, bob, carol)
        resp = raw("GET", "/Users", params={"filter": pre, "startIndex": "0", "count": "2"})
        eq(resp.status_code, 200, f"startIndex=0: status ({resp.text[:200]})")
        eq((resp.json().get("startIndex"), len(resp.json().get("Resources") or [])), (1, 2),
           "startIndex=0: startIndex, resources")
        resp = raw("GET", "/Users", params={"filter": pre, "count": "-5"})
        eq(resp.status_code, 200, f"count=-5: status ({resp.text[:200]})")
        eq((resp.json().get("totalResults"), len(resp.json().get("Resources") or [])), (3, 0),
           "count=-5: totalResults, resources")

    with check("list: attributes=userName returns id and userName only"):
        need(alice)
        result = scim.query(UserE, query_parameters=SearchRequest[UserE](
            filter=f'userName eq "{A}"', attributes=["userName"]))
        result = _as_list(result, UserE)
        eq(len(result.resources or []), 1, "results")
        u = result.resources[0]
        eq(u.user_name, A, "userName")
        eq(u.id, alice.id, "id (always returned)")
        for attr in ("display_name", "title", "emails", "name", "active"):
            eq(getattr(u, attr), None, f"{attr} (not asked for)")
        expect(u[EnterpriseUser] is None or u[EnterpriseUser].department is None,
               "enterprise attributes returned though not asked for")

    with check("list: excludedAttributes=emails,title leaves them out"):
        need(alice)
        result = _as_list(scim.query(UserE, query_parameters=SearchRequest[UserE](
            filter=f'userName eq "{A}"', excluded_attributes=["emails", "title"])), UserE)
        u = result.resources[0]
        eq(u.emails, None, "emails")
        eq(u.title, None, "title")
        eq(u.display_name, "Alice Anders", "displayName")
        eq(u.user_name, A, "userName")

    with check("users: GET by id with attributes=displayName,urn:…:department"):
        need(alice)
        u = scim.query(UserE, alice.id, ResponseParameters[UserE](
            attributes=["displayName", f"{ENT}:department"]))
        expect(isinstance(u, User), _short(u))
        eq(u.display_name, "Alice Anders", "displayName")
        eq(u.id, alice.id, "id")
        eq(u.title, None, "title")
        eq(ent(u).department if ent(u) else None, "Engineering", "department")
        eq(ent(u).employee_number if ent(u) else None, None, "employeeNumber (not asked for)")

    with check("users: GET by id with excludedAttributes=emails"):
        need(alice)
        u = scim.query(UserE, alice.id, ResponseParameters[UserE](excluded_attributes=["emails"]))
        expect(isinstance(u, User), _short(u))
        eq(u.emails, None, "emails")
        eq(u.title, "Engineer", "title")

    with check("search: POST /Users/.search with filter, startIndex, count"):
        need(alice, bob, carol)
        result = scim.search(UserE, SearchRequest[UserE](filter=pre, start_index=1, count=2))
        result = _as_list(result, UserE)
        eq(result.total_results, 3, "totalResults")
        eq(len(result.resources or []), 2, "resources")
        eq(result.items_per_page, 2, "itemsPerPage")

    with check("search: POST /Users/.search with attributes"):
        need(alice)
        result = _as_list(scim.search(UserE, SearchRequest[UserE](
            filter=f'userName eq "{A}"', attributes=["userName"])), UserE)
        eq([u.user_name for u in result.resources], [A], "userName")
        eq(result.resources[0].title, None, "title (not asked for)")

    with check("search: POST /.search at the root"):
        need(alice, bob, carol)
        result = scim.search(SearchRequest(filter=pre))
        expect(isinstance(result, ListResponse), _short(result))
        eq(sorted(r.user_name for r in result.resources or []), sorted([A, B, C]), "users")

    with check("search: POST /Users/.search with a malformed filter is 400 invalidFilter"):
        resp = raw("POST", "/Users/.search", json={"schemas": [SEARCH_URN], "filter": "userName eq"})
        assert_scim_error(resp, 400, "invalidFilter")

    # -------------------------------------------------------------- errors on reads
    with check("errors: filter 'userName eq' is 400 invalidFilter"):
        try:
            SearchRequest[UserE](filter="userName eq")
            note("scim2-models accepted the malformed filter 'userName eq'")
        except (ValidationError, SCIMException):
            note("scim2-models refuses the malformed filter 'userName eq' client-side; sent raw")
        assert_scim_error(raw("GET", "/Users", params={"filter": "userName eq"}), 400, "invalidFilter")

    with check("errors: filter with an unknown operator is 400 invalidFilter"):
        assert_scim_error(raw("GET", "/Users", params={"filter": 'userName xx "a"'}), 400, "invalidFilter")

    with check("errors: filter with unbalanced parentheses is 400 invalidFilter"):
        assert_scim_error(raw("GET", "/Users", params={"filter": '(userName eq "a"'}), 400, "invalidFilter")

    with check("errors: GET /Users/<unknown id> is 404"):
        assert_lib_error(scim.query(UserE, str(uuid.uuid4())), 404)

    with check("errors: GET /Groups/<unknown id> is 404"):
        assert_lib_error(scim.query(Group, str(uuid.uuid4())), 404)

    # -------------------------------------------------------------- Okta
    with check("Okta: GET /Users?filter=userName eq \"x\"&startIndex=1&count=100"):
        need(alice)
        resp = raw("GET", f'/Users?filter=userName%20eq%20%22{A}%22&startIndex=1&count=100')
        eq(resp.status_code, 200, "status")
        lr = ListResponse[UserE].model_validate(resp.json(), scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        eq(lr.total_results, 1, "totalResults")
        eq(lr.start_index, 1, "startIndex")
        eq([u.id for u in lr.resources], [alice.id], "the user")
        resp = raw("GET", f'/Users?filter=userName%20eq%20%22{RUN}-nobody%40example.com%22&startIndex=1&count=100')
        lr = ListResponse[UserE].model_validate(resp.json(), scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        eq(lr.total_results, 0, "totalResults for an unknown userName")

    # -------------------------------------------------------------- PUT
    with check("users: PUT replaces the user (library replace)"):
        need(carol)
        u = get_user(carol.id)
        u.title = "Architect"
        u.name = Name(given_name="Caroline", family_name="Clark")
        u.external_id = f"{RUN}-ext-carol"
        u[EnterpriseUser] = EnterpriseUser(department="Architecture", cost_center="CC-9")
        result = scim.replace(u)
        expect(isinstance(result, User), f"replace returned {_short(result)}")
        eq(result.title, "Architect", "title")
        got = get_user(carol.id)
        eq((got.title, got.name.given_name, got.name.family_name, got.external_id),
           ("Architect", "Caroline", "Clark", f"{RUN}-ext-carol"), "after GET")
        eq((ent(got).department, ent(got).cost_center), ("Architecture", "CC-9"), "enterprise after GET")

    with check("users: PUT sets displayName (with name also present)"):
        need(carol)
        u = get_user(carol.id)
        u.display_name = "Caro C."
        result = scim.replace(u)
        expect(isinstance(result, User), f"replace returned {_short(result)}")
        eq(result.display_name, "Caro C.", "displayName in the answer")
        eq(get_user(carol.id).display_name, "Caro C.", "displayName after GET")

    with check("users: PUT clears attributes left out (RFC 7644 §3.5.1)"):
        need(carol)
        u = get_user(carol.id)
        u.title = None
        u[EnterpriseUser] = EnterpriseUser(department="Architecture")
        result = scim.replace(u)
        expect(isinstance(result, User), f"replace returned {_short(result)}")
        got = get_user(carol.id)
        eq(got.title, None, "title after a PUT without it")
        eq(ent(got).cost_center if ent(got) else None, None, "costCenter after a PUT without it")
        eq(ent(got).department if ent(got) else None, "Architecture", "department kept")

    with check("users: PUT to a taken userName is 409 uniqueness"):
        need(carol, alice)
        u = get_user(carol.id)
        u.user_name = A.upper()
        assert_lib_error(scim.replace(u), 409, "uniqueness")

    with check("users: PUT of an unknown id is 404"):
        u = UserE(id=str(uuid.uuid4()), user_name=f"{RUN}-ghost@example.com")
        assert_lib_error(scim.replace(u), 404)

    # -------------------------------------------------------------- PATCH (library)
    def lib_patch(user_id, *ops, model=UserE):
        operations = [PatchOperation[model](**op) for op in ops]
        result = scim.modify(model, user_id, PatchOp[model](operations=operations))
        if isinstance(result, Error):
            raise CheckFailed(f"PATCH answered an error: {_short(result)}")
        return result

    with check("PATCH: replace displayName with a path"):
        need(alice)
        result = lib_patch(alice.id, {"op": "replace", "path": "displayName", "value": "Alice A."})
        expect(result is None or isinstance(result, User), _short(result))
        eq(get_user(alice.id).display_name, "Alice A.", "displayName")

    with check("PATCH: replace name.givenName (sub-attribute path)"):
        need(alice)
        lib_patch(alice.id, {"op": "replace", "path": "name.givenName", "value": "Alicia"})
        got = get_user(alice.id)
        eq(got.name.given_name, "Alicia", "name.givenName")
        eq(got.name.family_name, "Anders", "name.familyName kept")

    with check("PATCH: add title, then remove it"):
        need(bob)
        lib_patch(bob.id, {"op": "add", "path": "title", "value": "Director"})
        eq(get_user(bob.id).title, "Director", "title after add")
        lib_patch(bob.id, {"op": "remove", "path": "title"})
        eq(get_user(bob.id).title, None, "title after remove")

    with check("PATCH: replace without a path (value is an object)"):
        need(bob)
        lib_patch(bob.id, {"op": "replace", "value": {"title": "Sales Manager", "active": True,
                                                      "externalId": f"{RUN}-ext-bob"}})
        got = get_user(bob.id)
        eq((got.title, got.active, got.external_id), ("Sales Manager", True, f"{RUN}-ext-bob"),
           "title, active, externalId")

    with check("PATCH: replace displayName without a path"):
        need(bob)
        lib_patch(bob.id, {"op": "replace", "value": {"displayName": "Robert Brown"}})
        eq(get_user(bob.id).display_name, "Robert Brown", "displayName")

    with check("PATCH: add without a path"):
        need(bob)
        lib_patch(bob.id, {"op": "add", "value": {"title": "Lead", "name": {"givenName": "Rob"}}})
        got = get_user(bob.id)
        eq((got.title, got.name.given_name if got.name else None), ("Lead", "Rob"), "title, name.givenName")

    with check("PATCH: replace emails[type eq \"work\"].value"):
        need(alice)
        before = sorted((str(e.type), e.value) for e in get_user(alice.id).emails or [] if e.type != "work")
        lib_patch(alice.id, {"op": "replace", "path": 'emails[type eq "work"].value',
                             "value": f"alice.new@{RUN}.example.com"})
        got = get_user(alice.id)
        work = [e.value for e in got.emails or [] if e.type == "work"]
        eq(work, [f"alice.new@{RUN}.example.com"], "work e-mail")
        after = sorted((str(e.type), e.value) for e in got.emails or [] if e.type != "work")
        eq(after, before, "the other e-mails")

    with check("PATCH: add a non-primary email is accepted and the primary address stays"):
        need(alice)
        lib_patch(alice.id, {"op": "add", "path": "emails",
                             "value": [{"value": f"alice.other@{RUN}.example.com", "type": "other"}]})
        got = get_user(alice.id)
        eq([e.value for e in got.emails or []], [f"alice.new@{RUN}.example.com"], "emails")

    with check("PATCH: add a primary email makes it the user's address"):
        need(alice)
        lib_patch(alice.id, {"op": "add", "path": "emails",
                             "value": [{"value": f"alice.primary@{RUN}.example.com", "type": "work", "primary": True}]})
        got = get_user(alice.id)
        eq([e.value for e in got.emails or []], [f"alice.primary@{RUN}.example.com"], "emails")
        lib_patch(alice.id, {"op": "replace", "path": 'emails[type eq "work"].value',
                             "value": f"alice.new@{RUN}.example.com"})

    with check("PATCH: replace the enterprise department by its URN path"):
        need(alice)
        lib_patch(alice.id, {"op": "replace", "path": f"{ENT}:department", "value": "Research"})
        got = get_user(alice.id)
        eq(ent(got).department, "Research", "department")
        eq(ent(got).employee_number, "1001", "employeeNumber kept")

    with check("PATCH: replace enterprise manager (value) by URN path"):
        need(alice, bob)
        lib_patch(alice.id, {"op": "replace", "path": f"{ENT}:manager", "value": {"value": bob.id}})
        got = get_user(alice.id)
        eq(ent(got).manager.value if ent(got) and ent(got).manager else None, bob.id, "manager.value")

    with check("PATCH: enterprise attributes by extension object without a path"):
        need(alice)
        lib_patch(alice.id, {"op": "replace", "value": {ENT: {"division": "Labs", "organization": "Acme Labs"}}})
        got = get_user(alice.id)
        eq((ent(got).division, ent(got).organization), ("Labs", "Acme Labs"), "division, organization")
        eq(ent(got).department, "Research", "department kept")

    with check("filter: after PATCH, the new work e-mail and the new department are found"):
        need(alice)
        expect_names(f'emails[type eq "work" and value eq "alice.new@{RUN}.example.com"]', [A])
        expect_names(f'{pre} and {ENT}:department eq "Research"', [A])

    with check("PATCH: active false then true, with the library"):
        need(carol)
        lib_patch(carol.id, {"op": "replace", "path": "active", "value": False})
        eq(get_user(carol.id).active, False, "active after false")
        lib_patch(carol.id, {"op": "replace", "path": "active", "value": True})
        eq(get_user(carol.id).active, True, "active after true")

    with check("PATCH: a PATCH answer (200) is the full resource, or 204"):
        need(alice)
        result = scim.modify(UserE, alice.id, PatchOp[UserE](operations=[
            PatchOperation[UserE](op="replace", path="title", value="Staff Engineer")]))
        resp = last_response()
        expect(resp.status_code in (200, 204), f"status {resp.status_code}")
        if resp.status_code == 200:
            expect(isinstance(result, User), _short(result))
            eq(result.title, "Staff Engineer", "title in the answer")
            eq(result.user_name, A, "userName in the answer")

    # -------------------------------------------------------------- PATCH errors
    with check("PATCH errors: op on id is 400 mutability"):
        need(alice)
        try:
            PatchOp[UserE](operations=[{"op": "replace", "path": "id", "value": "x"}]).model_dump(
                scim_ctx=Context.RESOURCE_PATCH_REQUEST)
            note("scim2-models lets a client PATCH id")
        except (ValidationError, SCIMException):
            note("scim2-models refuses a PATCH of id client-side; sent as a raw dict")
        result = scim.modify(UserE, alice.id, patch_body({"op": "replace", "path": "id", "value": "x"}))
        assert_lib_error(result, 400, "mutability")
        eq(get_user(alice.id).id, alice.id, "id unchanged")

    with check("PATCH errors: op on a User's groups is 400 mutability"):
        need(alice)
        result = scim.modify(UserE, alice.id, patch_body(
            {"op": "add", "path": "groups", "value": [{"value": str(uuid.uuid4())}]}))
        assert_lib_error(result, 400, "mutability")

    with check("PATCH errors: a malformed path is 400 invalidPath"):
        need(alice)
        result = scim.modify(UserE, alice.id, patch_body(
            {"op": "replace", "path": 'emails[type eq "work"', "value": "x@example.com"}))
        assert_lib_error(result, 400, "invalidPath")

    # Users: an attribute Gatehouse does not keep is skipped, as a POST
    # ignores it (Entra ID's default mappings send addresses and phone
    # numbers in every PATCH); Groups keep refusing unknown paths.
    with check("PATCH: an attribute Gatehouse does not keep is skipped on a User (Entra default mappings)"):
        need(alice)
        before = raw("GET", f"/Users/{alice.id}")
        resp = raw("PATCH", f"/Users/{alice.id}", json=patch_body(
            {"op": "Add", "path": 'addresses[type eq "work"].formatted', "value": "1 Main St"},
            {"op": "replace", "path": "shoeSize", "value": "42"}))
        eq(resp.status_code, 200, "status")
        got = body_of(resp)
        expect("addresses" not in got and "shoeSize" not in got, f"kept: {sorted(got)}")
        eq(got.get("userName"), body_of(before).get("userName"), "userName unchanged")

    with check("PATCH errors: an unknown attribute path on a Group is 400 invalidPath"):
        need(alice)
        g = raw("POST", "/Groups", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                           "displayName": f"{RUN}-shoe-group"})
        eq(g.status_code, 201, "create")
        gid = body_of(g)["id"]
        resp = raw("PATCH", f"/Groups/{gid}", json=patch_body(
            {"op": "replace", "path": "shoeSize", "value": "42"}))
        assert_scim_error(resp, 400, "invalidPath")
        raw("DELETE", f"/Groups/{gid}")

    with check("PATCH errors: a non-boolean active is 400 invalidValue"):
        need(alice)
        result = scim.modify(UserE, alice.id, patch_body(
            {"op": "replace", "path": "active", "value": "perhaps"}))
        assert_lib_error(result, 400, "invalidValue")

    with check("PATCH errors: an unknown op is 400"):
        need(alice)
        result = scim.modify(UserE, alice.id, patch_body(
            {"op": "frobnicate", "path": "title", "value": "x"}))
        assert_lib_error(result, 400, scim_types=["invalidValue", "invalidSyntax"])

    with check("PATCH errors: unknown id is 404"):
        result = scim.modify(UserE, str(uuid.uuid4()), patch_body(
            {"op": "replace", "path": "title", "value": "x"}))
        assert_lib_error(result, 404)

    with check("PATCH errors: a body without schemas/Operations is 400"):
        need(alice)
        result = scim.modify(UserE, alice.id, {"op": "replace", "path": "title", "value": "x"})
        assert_lib_error(result, 400, scim_types=["invalidSyntax", "invalidValue"])

    # -------------------------------------------------------------- Entra ID quirks
    with check("Entra ID: {\"op\":\"Replace\",\"path\":\"active\",\"value\":\"False\"}, then \"True\""):
        need(carol)
        result = scim.modify(UserE, carol.id, patch_body(
            {"op": "Replace", "path": "active", "value": "False"}))
        expect(not isinstance(result, Error), _short(result))
        eq(get_user(carol.id).active, False, "active after \"False\"")
        result = scim.modify(UserE, carol.id, patch_body(
            {"op": "Replace", "path": "active", "value": "True"}))
        expect(not isinstance(result, Error), _short(result))
        eq(get_user(carol.id).active, True, "active after \"True\"")

    with check("Entra ID: \"Add\" capitalised with a path"):
        need(carol)
        result = scim.modify(UserE, carol.id, patch_body(
            {"op": "Add", "path": "title", "value": "Principal"},
            {"op": "Add", "path": f"{ENT}:employeeNumber", "value": "3003"}))
        expect(not isinstance(result, Error), _short(result))
        got = get_user(carol.id)
        eq(got.title, "Principal", "title")
        eq(ent(got).employee_number, "3003", "employeeNumber")

    with check("Entra ID: Replace of emails[type eq \"work\"].value and name.familyName"):
        need(carol)
        result = scim.modify(UserE, carol.id, patch_body(
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": f"carol2@{RUN}.example.com"},
            {"op": "Replace", "path": "name.familyName", "value": "Clarke"}))
        expect(not isinstance(result, Error), _short(result))
        got = get_user(carol.id)
        eq([e.value for e in got.emails or [] if e.type == "work"], [f"carol2@{RUN}.example.com"], "work e-mail")
        eq(got.name.family_name, "Clarke", "familyName")

    # -------------------------------------------------------------- Okta PUT / deactivate
    with check("Okta: PATCH {\"op\":\"replace\",\"value\":{\"active\":false}} deactivates"):
        need(bob)
        result = scim.modify(UserE, bob.id, patch_body({"op": "replace", "value": {"active": False}}))
        expect(not isinstance(result, Error), _short(result))
        eq(get_user(bob.id).active, False, "active")
        expect_names(f'{pre} and active eq false', [B])
        result = scim.modify(UserE, bob.id, patch_body({"op": "replace", "value": {"active": True}}))
        eq(get_user(bob.id).active, True, "active after reactivation")

    # -------------------------------------------------------------- groups
    g1 = g2 = None
    gname = f"{RUN}-Engineers"

    with check("groups: POST a group with a member (library create, 201)"):
        need(alice)
        g1 = create_group(Group(display_name=gname, external_id=f"{RUN}-gext",
                                members=[GroupMember(value=alice.id)]))
        expect(isinstance(g1, Group), f"create returned {_short(g1)}")
        eq(last_response().status_code, 201, "status")
        eq(g1.display_name, gname, "displayName")
        eq(g1.external_id, f"{RUN}-gext", "externalId")
        eq(member_ids(g1), [alice.id], "members")
        eq(g1.meta.resource_type, "Group", "meta.resourceType")

    with check("groups: the member's read-only groups attribute lists the group"):
        need(g1, alice)
        got = get_user(alice.id)
        eq(group_ids_of(got), [g1.id], "alice.groups")
        entry = [g for g in got.groups if g.value == g1.id][0]
        eq(entry.display, gname, "groups[].display")

    with check("groups: GET by id"):
        need(g1)
        got = get_group(g1.id)
        eq(got.display_name, gname, "displayName")
        eq(member_ids(got), [alice.id], "members")
        member = got.members[0]
        expect(member.ref is None or str(member.ref).endswith("/Users/" + alice.id),
               f"members[].$ref {member.ref} does not point at the user")

    with check("groups: POST with an unknown member id is 400 invalidValue"):
        result = create_group(Group(display_name=f"{RUN}-bad", members=[GroupMember(value=str(uuid.uuid4()))]))
        assert_lib_error(result, 400, "invalidValue")

    with check("groups: POST with a group id as member is 400 invalidValue"):
        need(g1)
        result = create_group(Group(display_name=f"{RUN}-bad2", members=[GroupMember(value=g1.id)]))
        assert_lib_error(result, 400, "invalidValue")

    with check("groups: POST an empty group, list and filter by displayName"):
        g2 = create_group(Group(display_name=f"{RUN}-Empty"))
        expect(isinstance(g2, Group), f"create returned {_short(g2)}")
        eq(g2.members or [], [], "members")
        listing = scim.query(Group, query_parameters=SearchRequest[Group](
            filter=f'displayName sw "{RUN}-"'))
        listing = _as_list(listing, Group)
        eq(sorted(g.display_name for g in listing.resources or []), sorted([gname, f"{RUN}-Empty"]),
           "groups listed")
        listing = _as_list(scim.query(Group, query_parameters=SearchRequest[Group](
            filter=f'displayName eq "{gname}"')), Group)
        eq([g.id for g in listing.resources or []], [g1.id], "displayName eq")
        listing = _as_list(scim.query(Group, query_parameters=SearchRequest[Group](
            filter=f'members.value eq "{alice.id}" and displayName sw "{RUN}-"')), Group) if alice else None
        if listing is not None:
            eq([g.id for g in listing.resources or []], [g1.id], "members.value eq")

    with check("groups: filter externalId eq"):
        need(g1)
        listing = _as_list(scim.query(Group, query_parameters=SearchRequest[Group](
            filter=f'externalId eq "{RUN}-gext"')), Group)
        eq([g.id for g in listing.resources or []], [g1.id], "externalId eq")

    with check("groups: excludedAttributes=members"):
        need(g1)
        got = scim.query(Group, g1.id, ResponseParameters[Group](excluded_attributes=["members"]))
        expect(isinstance(got, Group), _short(got))
        eq(got.members, None, "members")
        eq(got.display_name, gname, "displayName")

    with check("groups: PATCH add members (library)"):
        need(g1, bob, carol)
        result = scim.modify(Group, g1.id, PatchOp[Group](operations=[PatchOperation[Group](
            op="add", path="members", value=[{"value": bob.id}, {"value": carol.id}])]))
        expect(not isinstance(result, Error), _short(result))
        eq(member_ids(get_group(g1.id)), sorted([alice.id, bob.id, carol.id]), "members")
        eq(group_ids_of(get_user(bob.id)), [g1.id], "bob.groups")

    with check("groups: PATCH add of a member already there keeps one entry"):
        need(g1, bob)
        result = scim.modify(Group, g1.id, patch_body(
            {"op": "add", "path": "members", "value": [{"value": bob.id}]}))
        expect(not isinstance(result, Error), _short(result))
        eq(member_ids(get_group(g1.id)).count(bob.id), 1, "entries for bob")

    with check("groups: PATCH remove members[value eq \"<id>\"] (library)"):
        need(g1, bob)
        result = scim.modify(Group, g1.id, PatchOp[Group](operations=[PatchOperation[Group](
            op="remove", path=f'members[value eq "{bob.id}"]')]))
        expect(not isinstance(result, Error), _short(result))
        expect(bob.id not in member_ids(get_group(g1.id)), "bob still a member")
        eq(group_ids_of(get_user(bob.id)), [], "bob.groups")

    with check("groups: PATCH add of an unknown member is 400 invalidValue"):
        need(g1)
        result = scim.modify(Group, g1.id, patch_body(
            {"op": "add", "path": "members", "value": [{"value": str(uuid.uuid4())}]}))
        assert_lib_error(result, 400, "invalidValue")

    with check("groups: PATCH replace displayName (rename)"):
        need(g1, alice)
        result = scim.modify(Group, g1.id, PatchOp[Group](operations=[PatchOperation[Group](
            op="replace", path="displayName", value=gname + "-renamed")]))
        expect(not isinstance(result, Error), _short(result))
        eq(get_group(g1.id).display_name, gname + "-renamed", "displayName")
        entry = [g for g in get_user(alice.id).groups or [] if g.value == g1.id]
        eq([g.display for g in entry], [gname + "-renamed"], "alice.groups[].display after rename")

    with check("groups: PATCH replace displayName without a path"):
        need(g1)
        result = scim.modify(Group, g1.id, patch_body({"op": "replace", "value": {"displayName": gname}}))
        expect(not isinstance(result, Error), _short(result))
        eq(get_group(g1.id).display_name, gname, "displayName")

    with check("groups: PATCH of id is 400 mutability"):
        need(g1)
        result = scim.modify(Group, g1.id, patch_body({"op": "replace", "path": "id", "value": "x"}))
        assert_lib_error(result, 400, "mutability")

    with check("Entra ID: {\"op\":\"Add\",\"path\":\"members\",...} capitalised"):
        need(g2, bob)
        result = scim.modify(Group, g2.id, patch_body(
            {"op": "Add", "path": "members", "value": [{"value": bob.id}]}))
        expect(not isinstance(result, Error), _short(result))
        eq(member_ids(get_group(g2.id)), [bob.id], "members")

    with check("Entra ID: {\"op\":\"Remove\",\"path\":\"members\",\"value\":[{\"value\":\"<id>\"}]}"):
        need(g2, bob)
        result = scim.modify(Group, g2.id, patch_body(
            {"op": "Remove", "path": "members", "value": [{"value": bob.id}]}))
        expect(not isinstance(result, Error), _short(result))
        eq(member_ids(get_group(g2.id)), [], "members")

    with check("groups: PATCH replace members replaces the whole list"):
        need(g2, alice, carol)
        result = scim.modify(Group, g2.id, patch_body(
            {"op": "add", "path": "members", "value": [{"value": alice.id}]},
            {"op": "replace", "path": "members", "value": [{"value": carol.id}]}))
        expect(not isinstance(result, Error), _short(result))
        eq(member_ids(get_group(g2.id)), [carol.id], "members")

    with check("groups: PATCH remove path members (no filter) empties the group"):
        need(g2)
        result = scim.modify(Group, g2.id, patch_body({"op": "remove", "path": "members"}))
        expect(not isinstance(result, Error), _short(result))
        eq(member_ids(get_group(g2.id)), [], "members")

    with check("groups: PUT replaces displayName and members (library replace)"):
        need(g2, alice, bob)
        g = get_group(g2.id)
        g.display_name = f"{RUN}-Put"
        g.members = [GroupMember(value=alice.id), GroupMember(value=bob.id)]
        result = scim.replace(g)
        expect(isinstance(result, Group), f"replace returned {_short(result)}")
        got = get_group(g2.id)
        eq(got.display_name, f"{RUN}-Put", "displayName")
        eq(member_ids(got), sorted([alice.id, bob.id]), "members")
        eq(group_ids_of(get_user(bob.id)), [g2.id], "bob.groups")

    with check("groups: PUT with an unknown member is 400 invalidValue"):
        need(g2)
        g = get_group(g2.id)
        g.members = [GroupMember(value=str(uuid.uuid4()))]
        assert_lib_error(scim.replace(g), 400, "invalidValue")

    with check("users: PUT with read-only \"groups\": [] keeps memberships (Okta-style PUT)"):
        need(g1, carol)
        u = get_user(carol.id)
        expect(g1.id in group_ids_of(u), "precondition: carol is in the group")
        body = {"schemas": [CORE_USER], "id": carol.id, "userName": C,
                "name": {"givenName": "Carol", "familyName": "Clark"},
                "emails": [{"primary": True, "value": f"carol2@{RUN}.example.com", "type": "work"}],
                "displayName": "Carol Clark", "title": "Okta title", "groups": [], "active": True}
        resp = raw("PUT", f"/Users/{carol.id}", json=body)
        eq(resp.status_code, 200, f"status ({resp.text[:300]})")
        got = get_user(carol.id)
        expect(g1.id in group_ids_of(got), f"membership lost: groups={group_ids_of(got)}")
        eq(got.title, "Okta title", "title")
        eq(member_ids(get_group(g1.id)).count(carol.id), 1, "carol in the group's members")

    with check("users: PUT with a wrong id in the body still targets the URL's user (id is readOnly)"):
        need(bob)
        u = get_user(bob.id)
        body = u.model_dump(scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
        body["id"] = str(uuid.uuid4())
        body["title"] = "Title via PUT"
        resp = raw("PUT", f"/Users/{bob.id}", json=body)
        expect(resp.status_code in (200, 400), f"status {resp.status_code}")
        if resp.status_code == 200:
            eq(resp.json().get("id"), bob.id, "id in the answer")
            eq(get_user(bob.id).title, "Title via PUT", "title")
        else:
            assert_scim_error(resp, 400, scim_types=["mutability", "invalidValue"])

    # -------------------------------------------------------------- dynamic models
    with check("discovery models: users read back validate against the server's own /Schemas"):
        need(dyn, alice)
        model = dyn.get_resource_model("User")
        got = dyn.query(model, alice.id)
        expect(isinstance(got, model), f"got {_short(got)}")
        listing = dyn.query(model, query_parameters={"filter": pre})
        expect(isinstance(listing, ListResponse), _short(listing))
        eq(listing.total_results, 3, "totalResults")

    with check("discovery models: groups read back validate against the server's own /Schemas"):
        need(dyn, g1)
        model = dyn.get_resource_model("Group")
        got = dyn.query(model, g1.id)
        expect(isinstance(got, model), f"got {_short(got)}")

    # -------------------------------------------------------------- other application
    if OTHER_HTTP is not None:
        other = SyncSCIMClient(OTHER_HTTP, provider=static_provider(resource_types, spc),
                               raise_scim_errors=False)
        other_user = None
        with check("isolation: the other application cannot see this application's users"):
            need(alice)
            assert_lib_error(other.query(UserE, alice.id), 404)
            result = _as_list(other.query(UserE, query_parameters=SearchRequest[UserE](
                filter=f'userName eq "{A}"')), UserE)
            eq(result.total_results, 0, "totalResults at the other application")

        with check("isolation: the same userName can exist in the other application"):
            result = other.create(UserE(user_name=A))
            expect(isinstance(result, User), f"create at the other application: {_short(result)}")
            other_user = result
            expect(other_user.id != (alice.id if alice else None), "same id")

        with check("isolation: a group member from the other application is 400 invalidValue"):
            need(other_user)
            result = create_group(Group(display_name=f"{RUN}-cross",
                                        members=[GroupMember(value=other_user.id)]))
            assert_lib_error(result, 400, "invalidValue")

        with check("isolation: this application's token is 401 at the other application"):
            assert_scim_error(raw("GET", "/Users", token=TOKEN, client=OTHER_HTTP), 401)

        if other_user is not None:
            other.delete(UserE, other_user.id)
    else:
        note("SCIM_OTHER_BASE_URL not set: cross-application isolation checks skipped")

    # -------------------------------------------------------------- count cap
    if CAP_USERS > 0:
        cap_ids = []
        with check(f"list: count is capped at 200 (maxResults), with {CAP_USERS} users"):
            cp = f"{RUN}-cap-"
            for i in range(CAP_USERS):
                resp = raw("POST", "/Users", json={"schemas": [CORE_USER],
                                                   "userName": f"{cp}{i:04d}@example.com"})
                if resp.status_code != 201:
                    raise CheckFailed(f"creating cap user {i}: {resp.status_code} {resp.text[:300]}")
                cap_ids.append(resp.json()["id"])
            EXCHANGES[-CAP_USERS:] = []  # keep the log short
            for count in (1000, None):
                params = {"filter": f'userName sw "{cp}"'}
                if count is not None:
                    params["count"] = str(count)
                resp = raw("GET", "/Users", params=params)
                eq(resp.status_code, 200, "status")
                body = resp.json()
                eq(body.get("totalResults"), CAP_USERS, "totalResults")
                got = len(body.get("Resources") or [])
                expect(got <= 200, f"count={count}: {got} resources on one page, more than maxResults 200")
                expect(body.get("itemsPerPage") == got, f"itemsPerPage {body.get('itemsPerPage')} != {got}")
                expect(got == min(200, CAP_USERS), f"count={count}: expected {min(200, CAP_USERS)} resources, got {got}")
            resp = raw("GET", "/Users", params={"filter": f'userName sw "{cp}"', "startIndex": "201", "count": "200"})
            body = resp.json()
            eq(len(body.get("Resources") or []), max(0, CAP_USERS - 200), "resources on the second page")
        with check("users: DELETE the cap users (204 each)"):
            bad = []
            for uid in cap_ids:
                resp = raw("DELETE", f"/Users/{uid}")
                if resp.status_code != 204:
                    bad.append((uid, resp.status_code))
            EXCHANGES[-len(cap_ids):] = [] if not bad else EXCHANGES[-len(cap_ids):]
            expect(not bad, f"DELETE answers: {bad[:5]}")

    # -------------------------------------------------------------- DELETE
    with check("groups: DELETE is 204, then GET is 404 and the user's groups drop it"):
        need(g2, bob)
        result = scim.delete(Group, g2.id)
        eq(result, None, "delete result")
        eq(last_response().status_code, 204, "status")
        assert_lib_error(scim.query(Group, g2.id), 404)
        expect(g2.id not in group_ids_of(get_user(bob.id)), "bob.groups still lists the deleted group")
        created_groups.remove(g2.id)

    with check("groups: DELETE, PUT and PATCH of an unknown id are 404"):
        assert_lib_error(scim.delete(Group, str(uuid.uuid4())), 404)
        assert_lib_error(scim.replace(Group(id=str(uuid.uuid4()), display_name=f"{RUN}-ghost")), 404)
        assert_lib_error(scim.modify(Group, str(uuid.uuid4()), patch_body(
            {"op": "replace", "path": "displayName", "value": "x"})), 404)

    with check("users: DELETE is 204, then GET is 404 and the user is gone from lists"):
        need(bob)
        result = scim.delete(UserE, bob.id)
        eq(result, None, "delete result")
        eq(last_response().status_code, 204, "status")
        assert_lib_error(scim.query(UserE, bob.id), 404)
        expect_names(pre, [A, C])
        expect_names(f'userName eq "{B}"', [])
        created_users.remove(bob.id)

    with check("users: DELETE again is 404; PATCH and PUT of the deleted user are 404"):
        need(bob)
        assert_lib_error(scim.delete(UserE, bob.id), 404)
        assert_lib_error(scim.modify(UserE, bob.id, patch_body(
            {"op": "replace", "path": "title", "value": "x"})), 404)
        assert_lib_error(scim.replace(UserE(id=bob.id, user_name=B)), 404)

    with check("users: a deleted user's userName can be used again"):
        need(bob)
        again = create_user(UserE(user_name=B))
        expect(isinstance(again, User), f"create returned {_short(again)}")
        expect(again.id != bob.id, "the deleted id came back")

    with check("groups: deleting a member user removes it from the group"):
        need(g1, carol)
        expect(carol.id in member_ids(get_group(g1.id)), "precondition: carol is a member")
        result = scim.delete(UserE, carol.id)
        eq(result, None, "delete result")
        created_users.remove(carol.id)
        got = get_group(g1.id)
        expect(carol.id not in member_ids(got), f"members still lists the deleted user: {member_ids(got)}")

    # -------------------------------------------------------------- rate limiting
    if THROTTLED:
        note(f"the server answered 429 {len(THROTTLED)} time(s); each was retried after Retry-After")
        with check("rate limiting: every 429 carries Retry-After and is a SCIM error"):
            for t in THROTTLED:
                expect(t["retry_after"], f"429 without Retry-After: {t['method']} {t['url']}")
                expect(t["content_type"].startswith("application/scim+json"), f"429 content type {t['content_type']!r}")
                body = json.loads(t["body"])
                eq((body.get("schemas"), body.get("status")), ([ERROR_URN], "429"), "429 body")

    # -------------------------------------------------------------- wire format
    with check("wire: every SCIM answer with a body is application/scim+json"):
        offenders = []
        for x in EXCHANGES:
            r = x["resp"]
            if r is None or r.status_code == 204 or not r.content:
                continue
            ctype = r.headers.get("content-type", "").split(";")[0].strip()
            if ctype != "application/scim+json":
                offenders.append(f"{x['method']} {x['url']} -> {r.status_code} {ctype!r}")
        expect(not offenders, f"{len(offenders)} answers: " + "; ".join(offenders[:5]))

    with check("wire: every error answer is a SCIM error with a string status"):
        offenders = []
        for x in EXCHANGES:
            r = x["resp"]
            if r is None or r.status_code < 400:
                continue
            body = body_of(r)
            if not (isinstance(body, dict) and body.get("schemas") == [ERROR_URN]
                    and body.get("status") == str(r.status_code)):
                offenders.append(f"{x['method']} {x['url']} -> {r.status_code} {r.text[:120]!r}")
        expect(not offenders, f"{len(offenders)} answers: " + "; ".join(offenders[:5]))

    # -------------------------------------------------------------- cleanup
    for gid in created_groups:
        try:
            raw("DELETE", f"/Groups/{gid}")
        except Exception:  # noqa: BLE001
            pass
    for uid in created_users:
        try:
            raw("DELETE", f"/Users/{uid}")
        except Exception:  # noqa: BLE001
            pass


def report():
    passed = sum(1 for r in RESULTS if r[1] == "PASS")
    failed = [r for r in RESULTS if r[1] == "FAIL"]
    skipped = sum(1 for r in RESULTS if r[1] == "SKIP")
    print("\n" + "=" * 72)
    if NOTES:
        print("Library notes:")
        for n in dict.fromkeys(NOTES):
            print(f"  - {n}")
    if failed:
        print("Failed checks:")
        for name, _, message, _ in failed:
            print(f"  - {name}\n      {message}")
    print(f"{passed} passed, {len(failed)} failed, {skipped} skipped")
    return 1 if failed or (passed == 0) else 0


if __name__ == "__main__":
    try:
        main()
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        RESULTS.append(("the test script itself", "FAIL", "crashed", []))
    sys.exit(report())
