"""The original proglog's casbin ACL, in casbin's standard format: `root` may
produce and consume on every object (`*`); nobody else may do anything."""

MODEL_CONF = """[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.sub == p.sub && r.obj == p.obj && r.act == p.act
"""

POLICY_CSV = "p, root, *, produce\np, root, *, consume\n"
