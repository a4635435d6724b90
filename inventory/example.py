"""A pyinfra inventory, usable as is by raquet: each group becomes a unit.

pyinfra inventory/example.py deploys/sweep.py
raquet inventory check -i inventory/example.py
"""

# Not a pyinfra group (not a list); raquet reads it for reports.
province = "Lạng Sơn"

trang_dinh = [
    ("td-srv-01", {"ssh_hostname": "10.0.1.10"}),
    ("td-srv-02", {"ssh_hostname": "10.0.1.11", "ssh_port": 2222}),
    ("td-ws-07", {"ssh_hostname": "10.0.1.27", "role": "workstation", "rack": "B2"}),
]

# A group with group data, ([hosts], {data}); a host's own data wins over it.
cao_loc = (
    [
        ("cl-srv-01", {"ssh_hostname": "10.0.3.10"}),
        ("cl-ws-02", {"ssh_hostname": "10.0.3.22", "os": "windows", "role": "workstation"}),
    ],
    {"ssh_user": "raquet", "_sudo": True, "ssh_known_hosts_file": "inventory/known_hosts"},
)

# Hosts may be computed, as in any pyinfra inventory.
lab = [f"lab-{n:02d}.stttt.langson.gov.vn" for n in range(1, 4)]
