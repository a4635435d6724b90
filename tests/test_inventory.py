"""Inventories in every format load into the same model, and every mistake names file, line, field.

Error tests compare the complete list of reported problems, so a missing, extra, misplaced
or reworded problem fails them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raquet.errors import InputError
from raquet.inventory import describe, load_inventory, summary_table
from raquet.models import Host, Inventory
from raquet.policy import Policy, load_policy
from raquet.yamlfile import line_of, load_model, load_yaml, to_plain

FIXTURES = Path(__file__).parent / "fixtures" / "inventory"
EXAMPLES = Path(__file__).resolve().parents[1] / "inventory"
IPV4 = "expected an IPv4 address with four numbers from 0 to 255"
SECRET = "secrets never live in the inventory file: "


def problems(path: Path) -> list[str]:
    """What `raquet inventory check` prints for a bad inventory, one line per problem."""
    with pytest.raises(InputError) as caught:
        load_inventory(path)
    return [str(problem) for problem in caught.value.problems]


def hosts_by_name(inventory: Inventory) -> dict[str, Host]:
    return {host.name: host for host in inventory.hosts()}


def units(inventory: Inventory) -> dict[str, list[str]]:
    return {unit.id: [host.name for host in unit.hosts] for unit in inventory.units}


# --- raquet YAML ---------------------------------------------------------------------------


def test_raquet_yaml_loads_units_hosts_and_settings() -> None:
    inventory = load_inventory(FIXTURES / "good.yml")
    assert inventory.source == FIXTURES / "good.yml"
    assert (inventory.province, inventory.timezone) == ("Lạng Sơn", "Asia/Ho_Chi_Minh")
    assert inventory.issuer == "Sở Thông tin và Truyền thông"
    assert units(inventory) == {"trang-dinh": ["td-srv-01", "td-ws-07"], "cao-loc": ["cl-srv-01"]}
    assert [unit.name for unit in inventory.units] == ["Huyện Tràng Định", "Huyện Cao Lộc"]
    hosts = hosts_by_name(inventory)
    assert [hosts[name].unit for name in hosts] == ["trang-dinh", "trang-dinh", "cao-loc"]
    assert (hosts["td-ws-07"].os, hosts["td-ws-07"].role) == ("windows", "workstation")
    assert (hosts["td-srv-01"].os, hosts["td-srv-01"].role) == ("linux", "server")
    assert hosts["cl-srv-01"].address == "cl-srv-01.langson.gov.vn"


def test_defaults_apply_unless_the_host_sets_the_key() -> None:
    hosts = hosts_by_name(load_inventory(FIXTURES / "good.yml"))
    plain = hosts["td-srv-01"]
    assert (plain.ssh_user, plain.ssh_port, plain.tags) == ("root", 22, ["default"])
    overriding = hosts["td-ws-07"]
    assert (overriding.ssh_user, overriding.ssh_port, overriding.tags) == ("admin", 22, [])
    assert hosts["cl-srv-01"].ssh_port == 2222


def test_invalid_values_each_name_their_line_and_field() -> None:
    file = FIXTURES / "bad_values.yml"
    assert problems(file) == [
        f"{file}:6: units[0].hosts[0].address: {IPV4}; got '10.0.1'",
        f"{file}:7: units[0].hosts[0].os: expected one of linux, windows; got 'linx'",
        f"{file}:9: units[0].hosts[1].address: {IPV4}; got '300.1.1.1'",
        f"{file}:10: units[0].hosts[1].role: expected one of server, workstation; got 'desktop'",
        f"{file}:11: units[0].hosts[2].address: missing required key 'address'",
        f"{file}:12: units[0].hosts[2].adress: unknown key 'adress' (did you mean 'address'?)",
        f"{file}:13: units[1].id: missing required key 'id'",
        f"{file}:17: units[1].hosts[0].ssh_port: expected a number of at most 65535; got 70000",
    ]


def test_duplicate_host_names_name_both_lines() -> None:
    file = FIXTURES / "bad_duplicate_host.yml"
    assert problems(file) == [
        f"{file}:11: units[1].hosts[1].name: duplicate host name 'td-srv-01' (lines 5 and 11)"
    ]


def test_unknown_top_level_key_duplicate_unit_and_misplaced_unit_key() -> None:
    file = FIXTURES / "bad_structure.yml"
    assert problems(file) == [
        f"{file}:2: provnce: unknown key 'provnce' (did you mean 'province'?)",
        f"{file}:8: units[0].hosts[0].unit: "
        "a host belongs to the unit it is listed under; remove 'unit'",
        f"{file}:9: units[1].id: duplicate unit id 'trang-dinh' (lines 4 and 9)",
    ]


def test_an_inventory_needs_units() -> None:
    file = FIXTURES / "bad_empty_units.yml"
    assert problems(file) == [f"{file}:4: units: expected at least 1 item(s); got an empty list"]


def test_secrets_are_refused_wherever_they_are_and_never_echoed() -> None:
    file = FIXTURES / "bad_secret.yml"
    with pytest.raises(InputError) as caught:
        load_inventory(file)
    assert [str(p) for p in caught.value.problems] == [
        f"{file}:4: defaults.ssh_password: {SECRET}"
        "set ssh_password_env to the name of an environment variable holding it",
        f"{file}:11: units[0].hosts[0].data.password: {SECRET}set ssh_password_env "
        "(winrm_password_env on Windows) to the name of an environment variable holding it",
        f"{file}:15: units[0].hosts[1].winrm_password: {SECRET}"
        "set winrm_password_env to the name of an environment variable holding it",
    ]
    assert "hunter2" not in str(caught.value) and "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "line", "message"),
    [
        (
            "bad_syntax.yml",
            7,
            "YAML syntax error: while parsing a block collection; "
            "expected <block end>, but found '<block mapping start>'",
        ),
        (
            "bad_duplicate_key.yml",
            7,
            'YAML syntax error: while constructing a mapping; found duplicate key "address" '
            'with value "10.0.1.11" (original value: "10.0.1.10")',
        ),
    ],
)
def test_yaml_syntax_errors_name_the_line(name: str, line: int, message: str) -> None:
    assert problems(FIXTURES / name) == [f"{FIXTURES / name}:{line}: {message}"]


def test_timezone_must_be_an_iana_zone() -> None:
    file = FIXTURES / "bad_timezone.yml"
    assert problems(file) == [
        f"{file}:2: timezone: expected an IANA time zone such as Asia/Ho_Chi_Minh; got 'Asia/Hanoi'"
    ]


def test_bad_defaults_are_reported_once_at_their_own_line() -> None:
    file = FIXTURES / "bad_defaults.yml"
    assert problems(file) == [
        f"{file}:3: defaults.ssh_port: expected a whole number; got 'twenty-two'"
    ]


def test_relative_paths_resolve_beside_the_inventory_else_from_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    beside, elsewhere, home = tmp_path / "inv", tmp_path / "project", tmp_path / "home"
    for directory in (beside / "keys", elsewhere, home):
        directory.mkdir(parents=True)
    (beside / "keys" / "id_ed25519").write_text("key")
    file = beside / "fleet.yml"
    file.write_text(
        "units:\n  - id: u\n    hosts:\n      - name: h\n        address: 10.0.0.1\n"
        "        ssh_key: keys/id_ed25519\n        known_hosts: inventory/known_hosts\n"
        "        winrm_ca_bundle: ~/ca.pem\n"
    )
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("HOME", str(home))
    host = load_inventory(file).hosts()[0]
    assert host.ssh_key == str(beside / "keys" / "id_ed25519")
    assert host.known_hosts == str(elsewhere / "inventory" / "known_hosts")
    assert host.winrm_ca_bundle == str(home / "ca.pem")


def test_a_yaml_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    file = tmp_path / "list.yml"
    file.write_text("- a\n- b\n")
    assert problems(file) == [f"{file}:1: expected a mapping with province, defaults and units"]


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    file = tmp_path / "absent.yml"
    assert problems(file) == [f"{file}: cannot read: No such file or directory"]


def test_unknown_extension_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "fleet.json"
    file.write_text("{}")
    assert problems(file) == [
        f"{file}: unknown inventory format: "
        "expected .yml/.yaml (raquet or Ansible), .py (pyinfra) or .ini (Ansible)"
    ]


# --- pyinfra -------------------------------------------------------------------------------


def test_pyinfra_groups_become_units() -> None:
    inventory = load_inventory(FIXTURES / "pyinfra_good.py")
    assert (inventory.province, inventory.timezone) == ("Lạng Sơn", "Asia/Ho_Chi_Minh")
    assert units(inventory) == {
        "trang_dinh": ["td-srv-01.langson.gov.vn", "td-srv-02", "td-ws-07"],
        "cao_loc": ["td-srv-03", "cl-srv-01", "cl-srv-02"],
        "jump": ["local"],
        "huyen_trang_dinh": ["th-srv-01"],
    }
    assert inventory.units[3].name == "Huyện_Tràng_Định"


def test_pyinfra_data_maps_to_host_settings() -> None:
    hosts = hosts_by_name(load_inventory(FIXTURES / "pyinfra_good.py"))
    assert hosts["td-srv-01.langson.gov.vn"].address == "td-srv-01.langson.gov.vn"
    srv02 = hosts["td-srv-02"]
    assert (srv02.address, srv02.ssh_port, srv02.data) == ("10.0.1.11", 2222, {"rack": "B2"})
    assert (hosts["td-ws-07"].os, hosts["td-ws-07"].role) == ("windows", "workstation")
    # host data wins over group data; group data reaches the group's hosts only
    cl01, cl02, td03 = hosts["cl-srv-01"], hosts["cl-srv-02"], hosts["td-srv-03"]
    assert (cl01.ssh_user, cl01.sudo, cl01.known_hosts) == (
        "raquet",
        True,
        "/etc/raquet/known_hosts",
    )
    assert (cl02.ssh_user, cl02.sudo) == ("admin", True)
    assert (td03.unit, td03.ssh_user, td03.sudo) == ("cao_loc", None, False)
    local = hosts["local"]
    assert (local.connector, local.address, local.connector_name) == ("local", "localhost", "local")


def test_pyinfra_all_group_data_has_the_lowest_priority() -> None:
    inventory = load_inventory(FIXTURES / "pyinfra_all.py")
    assert units(inventory) == {"web": ["web-01"], "db": ["db-01"], "ungrouped": ["solo-01"]}
    hosts = hosts_by_name(inventory)
    assert (hosts["web-01"].ssh_user, hosts["web-01"].ssh_port) == ("deploy", 22)
    assert (hosts["db-01"].ssh_user, hosts["db-01"].ssh_port) == ("root", 2200)
    assert (hosts["solo-01"].ssh_user, hosts["solo-01"].ssh_port) == ("root", 22)


def test_pyinfra_errors_name_the_entry_line_and_key() -> None:
    file = FIXTURES / "pyinfra_bad.py"
    assert problems(file) == [
        f"{file}:4: web[0].ssh_hostname: {IPV4}; got '10.0.1'",
        f"{file}:5: web[1].ssh_password: {SECRET}"
        "set ssh_password_env to the name of an environment variable holding it",
        f'{file}:6: web[2]: expected "host" or ("host", {{data}})',
        f"{file}:7: web[3].ssh_port: expected a whole number; got 'ssh'",
        f"{file}:7: web[3].os: expected one of linux, windows; got 'solaris'",
        f"{file}:10: db: expected a group as ([hosts], {{data}})",
    ]


def test_pyinfra_host_left_out_of_all_is_an_error() -> None:
    file = FIXTURES / "pyinfra_missing_all.py"
    assert problems(file) == [
        f"{file}:3: web[1]: not in the `all` group, so pyinfra would not see it; add it to `all`"
    ]


def test_pyinfra_code_that_fails_names_its_line() -> None:
    file = FIXTURES / "pyinfra_raises.py"
    assert problems(file) == [
        f"{file}:4: running the inventory failed: "
        'TypeError: can only concatenate str (not "int") to str'
    ]


def test_pyinfra_syntax_error_names_its_line(tmp_path: Path) -> None:
    file = tmp_path / "broken.py"
    file.write_text('web = [\n    "web-01",\n    "web-02"\n    "web-03",\n    ]]\n')
    assert problems(file) == [f"{file}:5: Python syntax error: unmatched ']'"]


# --- Ansible -------------------------------------------------------------------------------


def test_ansible_ini_groups_with_hosts_become_units() -> None:
    inventory = load_inventory(FIXTURES / "ansible_hosts")  # INI recognised without extension
    assert units(inventory) == {
        "ungrouped": ["ungrouped-01"],
        "web": ["web-01", "web-02", "web-03", "web-09"],
        "db": ["db-01"],
        "winhosts": ["ws-01"],
    }


def test_ansible_ini_variables_follow_ansible_precedence() -> None:
    hosts = hosts_by_name(load_inventory(FIXTURES / "ansible_hosts"))
    # host var > child group var (web) > parent group var (prod) > all:vars
    web01 = hosts["web-01"]
    assert (web01.ssh_user, web01.ssh_port, web01.sudo) == ("deploy", 2200, True)
    assert (web01.ssh_key, web01.data) == ("/etc/raquet/id_ed25519", {"site": "langson"})
    web09 = hosts["web-09"]  # `web-09:2222` sets the port on the host line
    assert (web09.ssh_user, web09.ssh_port, web09.address) == ("ops", 2222, "web-09")
    db01 = hosts["db-01"]
    assert (db01.address, db01.ssh_user, db01.ssh_port) == ("10.0.2.1", "ops", None)
    assert hosts["ungrouped-01"].sudo is False


def test_ansible_winrm_hosts_are_windows_with_winrm_settings() -> None:
    ws = hosts_by_name(load_inventory(FIXTURES / "ansible_hosts"))["ws-01"]
    assert (ws.os, ws.role, ws.address, ws.connector_name) == (
        "windows",
        "workstation",
        "10.0.5.1",
        "winrm",
    )
    assert (ws.winrm_port, ws.winrm_transport, ws.ssh_port) == (5986, "kerberos", None)


def test_ansible_ini_errors_name_line_and_key() -> None:
    file = FIXTURES / "ansible_bad.ini"
    assert problems(file) == [
        f"{file}:2: web-01.ansible_host: {IPV4}; got '10.0.1'",
        f"{file}:3: web-02.ansible_password: {SECRET}set ssh_password_env "
        "(winrm_password_env on Windows) to the name of an environment variable holding it",
        f"{file}:4: web-03.os: expected one of linux, windows; got 'solaris'",
        f"{file}:5: web-04: expected key=value after the host; got 'junk'",
        f"{file}:8: [web:vars].ansible_become_pass: {SECRET}"
        "raquet takes no sudo password; let the sweep account use sudo without one",
        f"{file}:9: [web:vars]: expected key=value; got 'no_value_here'",
        f"{file}:11: [web:foo]: expected [web], [web:vars] or [web:children]",
    ]


def test_ansible_yaml_loads_nested_groups() -> None:
    inventory = load_inventory(FIXTURES / "ansible.yml")
    assert units(inventory) == {
        "ungrouped": ["jump"],
        "trang_dinh": ["td-srv-01", "td-ws-01", "td-ws-02"],
    }
    hosts = hosts_by_name(inventory)
    jump = hosts["jump"]
    assert (jump.connector, jump.address, jump.ssh_user) == ("local", "127.0.0.1", "root")
    assert (hosts["td-srv-01"].ssh_port, hosts["td-srv-01"].ssh_user) == (2222, "root")
    ws01, ws02 = hosts["td-ws-01"], hosts["td-ws-02"]
    assert (ws01.os, ws01.role, ws01.winrm_port, ws01.winrm_user) == (
        "windows",
        "workstation",
        2222,
        "root",
    )
    assert (ws01.winrm_scheme, ws02.winrm_scheme, ws01.ssh_user) == ("https", None, None)


def test_ansible_yaml_errors_name_line_and_path() -> None:
    file = FIXTURES / "ansible_bad.yml"
    host = "all.children.web.hosts"
    assert problems(file) == [
        f"{file}:6: {host}.web-01.ansible_host: {IPV4}; got '300.1.1.1'",
        f"{file}:7: {host}.web-01.ansible_password: {SECRET}set ssh_password_env "
        "(winrm_password_env on Windows) to the name of an environment variable holding it",
        f"{file}:8: {host}.web-02: expected a mapping of host variables",
        f"{file}:9: all.children.web.vrs: "
        "unknown key 'vrs'; a group holds hosts, vars and children",
    ]


# --- the shipped examples and the summary ----------------------------------------------------


@pytest.mark.parametrize(
    "name", ["local.yml", "example.yml", "example.py", "example.ini", "segments.example.yml"]
)
def test_shipped_examples_load(name: str) -> None:
    inventory = load_inventory(EXAMPLES / name)
    assert inventory.hosts()
    assert all(host.unit == unit.id for unit in inventory.units for host in unit.hosts)


def test_local_example_sweeps_the_jump_host_itself() -> None:
    inventory = load_inventory(EXAMPLES / "local.yml")
    (host,) = inventory.hosts()
    assert (host.name, host.unit, host.connector_name) == ("jump-host", "jump-host", "local")
    assert (host.address, host.os, host.role, inventory.province) == (
        "127.0.0.1",
        "linux",
        "server",
        "Lạng Sơn",
    )


def test_describe_counts_hosts_per_unit() -> None:
    inventory = load_inventory(FIXTURES / "good.yml")
    assert describe(inventory) == [
        {
            "unit": "trang-dinh",
            "name": "Huyện Tràng Định",
            "hosts": 2,
            "linux": 1,
            "windows": 1,
            "servers": 1,
            "workstations": 1,
        },
        {
            "unit": "cao-loc",
            "name": "Huyện Cao Lộc",
            "hosts": 1,
            "linux": 1,
            "windows": 0,
            "servers": 1,
            "workstations": 0,
        },
    ]
    last = summary_table(inventory).splitlines()[-1].split()
    assert last == ["total", "3", "2", "1", "2", "1"]


# --- yamlfile, as the policy loader uses it ---------------------------------------------------


def test_load_model_reports_nested_problems_with_hints(tmp_path: Path) -> None:
    file = tmp_path / "policy.yml"
    file.write_text("av:\n  max_signature_age_days: -1\n  max_signature_days: 3\npatchs: {}\n")
    with pytest.raises(InputError) as caught:
        load_model(file, Policy)
    assert [str(p) for p in caught.value.problems] == [
        f"{file}:2: av.max_signature_age_days: expected a number greater than 0; got -1",
        f"{file}:3: av.max_signature_days: unknown key 'max_signature_days' "
        "(did you mean 'max_signature_age_days'?)",
        f"{file}:4: patchs: unknown key 'patchs' (did you mean 'patches'?)",
    ]


def test_an_empty_policy_file_means_the_defaults(tmp_path: Path) -> None:
    file = tmp_path / "policy.yml"
    file.write_text("# nothing changed\n")
    assert load_policy(file).av == Policy().av


def test_quoting_hint_for_yaml_numbers_where_text_is_expected(tmp_path: Path) -> None:
    file = tmp_path / "fleet.yml"
    file.write_text("units:\n  - id: u\n    hosts:\n      - name: 2021\n        address: h\n")
    assert problems(file) == [
        f"{file}:4: units[0].hosts[0].name: expected text; got 2021 "
        "(put it in quotes to make it text)"
    ]


def test_line_of_a_missing_key_is_its_parents_line(tmp_path: Path) -> None:
    file = tmp_path / "doc.yml"
    file.write_text("a: 1\nb:\n  c: 2\n  d:\n    - x\n    - y: 3\n")
    data = load_yaml(file)
    assert line_of(data, ("b", "d", 1, "y")) == 6
    assert line_of(data, ("b", "missing")) == 2
    assert line_of(data, ("b", "d", 7)) == 4
    assert line_of(data, ()) == 1


def test_to_plain_strips_round_trip_types(tmp_path: Path) -> None:
    file = tmp_path / "doc.yml"
    file.write_text("n: &n 7\nm: *n\nf: 1.5\nb: true\nl: [x]\n")
    plain = to_plain(load_yaml(file))
    assert plain == {"n": 7, "m": 7, "f": 1.5, "b": True, "l": ["x"]}
    assert [type(v) for v in plain.values()] == [int, int, float, bool, list]


# --- names refuse control characters; bounds ---------------------------------------------

CONTROLS = ["\r", "\n", "\t", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85"]
CONTROLS += ["\u2028", "\u2029", "\u202a", "\u202e", "\u2066", "\u2069", "\u200f", "\x00", "\x1b"]
NO_CONTROL = (
    "expected text without line breaks, tabs, control characters or bidirectional overrides"
)


@pytest.mark.parametrize("char", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
@pytest.mark.parametrize("key", ["name", "province", "issuer", "tag"])
def test_names_refuse_every_control_character(tmp_path: Path, char: str, key: str) -> None:
    text = json.dumps(f"Huyện A{char}[signature] Forged")  # YAML reads JSON's escapes
    shown = f"'Huyện A{repr(char)[1:-1]}[signature] Forged'"
    unit = f"units:\n  - id: u\n    name: {text if key == 'name' else 'U'}\n"
    host = "    hosts:\n      - name: h\n        address: 10.0.0.1\n"
    top = {"province": f"province: {text}\n", "issuer": f"issuer: {text}\n"}.get(key, "")
    tags = f"        tags: [{text}]\n" if key == "tag" else ""
    file = tmp_path / "names.yml"
    file.write_text(top + unit + host + tags, encoding="utf-8")
    line, field = {"name": (3, "units[0].name"), "tag": (7, "units[0].hosts[0].tags[0]")}.get(
        key, (1, key)
    )
    found = f"found '{repr(char)[1:-1]}' at character 8"
    assert problems(file) == [f"{file}:{line}: {field}: {NO_CONTROL}; {found}; got {shown}"]


def test_an_issuer_of_several_lines_is_a_list_of_lines(tmp_path: Path) -> None:
    file = tmp_path / "fleet.yml"
    file.write_text(
        "issuer: [UBND TỈNH LẠNG SƠN, SỞ THÔNG TIN VÀ TRUYỀN THÔNG]\n"
        "units:\n  - id: u\n    hosts:\n      - name: h\n        address: 10.0.0.1\n",
        encoding="utf-8",
    )
    assert load_inventory(file).issuer == "UBND TỈNH LẠNG SƠN\nSỞ THÔNG TIN VÀ TRUYỀN THÔNG"
    python = tmp_path / "fleet.py"
    python.write_text("issuer = ('UBND', 'SỞ')\nu = ['10.0.0.1']\n", encoding="utf-8")
    assert load_inventory(python).issuer == "UBND\nSỞ"


def test_yaml_anchors_within_bounds_still_work(tmp_path: Path) -> None:
    file = tmp_path / "fleet.yml"
    file.write_text(
        "defaults: &d\n  ssh_user: root\nunits:\n  - id: u\n    hosts:\n"
        "      - name: h1\n        address: 10.0.0.1\n        <<: *d\n"
        "      - name: h2\n        address: 10.0.0.2\n        <<: *d\n",
        encoding="utf-8",
    )
    assert [h.ssh_user for h in load_inventory(file).hosts()] == ["root", "root"]


def test_a_date_yaml_cannot_build_names_its_line(tmp_path: Path) -> None:
    file = tmp_path / "fleet.yml"
    file.write_text("province: x\nunits:\n  - id: u\n    name: 2021-13-45\n", encoding="utf-8")
    assert problems(file) == [f"{file}:4: cannot read this value: month must be in 1..12"]


def test_an_ansible_range_is_counted_before_it_is_expanded(tmp_path: Path) -> None:
    file = tmp_path / "hosts.ini"
    file.write_text("[web]\nweb[0:99999999].example.org\n", encoding="utf-8")
    assert problems(file) == [
        f"{file}:2: web[0:99999999].example.org: this range names 100,000,000 hosts: more "
        "than 200,000 host entries in one inventory"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "? {a: 1}\n: 3\nunits: []\n",
            "1: ordereddict([('a', 1)]): keys should be strings; got a mapping",
        ),
        ("units: &u [*u]\n", "1: units[0]: an alias inside the anchor it names"),
        (f"units: 0x{'f' * 70}\n", "1: units: a number of 72 digits; at most 64 are read"),
        (
            "units:\n  - id: u\n    name: a\x07b\n",
            "3: YAML syntax error: the control character U+0007 is not allowed in YAML",
        ),
    ],
)
def test_odd_yaml_is_an_input_error_never_a_traceback(
    tmp_path: Path, text: str, expected: str
) -> None:
    file = tmp_path / "odd.yml"
    file.write_text(text, encoding="utf-8")
    assert problems(file)[:1] == [f"{file}:{expected}"]
