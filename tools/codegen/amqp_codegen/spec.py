"""Loads the protocol definition into the model the emitters read: classes, methods, fields.

Everything the emitters need to know about the definition is settled here (domains resolved
to wire types, C++ names chosen, ids checked for clashes), so that the emitters only format.
The definition is RabbitMQ's amqp-rabbitmq-0.9.1.json: "domains" is a list of [name, base]
pairs, and each of "classes" has "name", "id" and "methods", whose "arguments" name a "type"
or a "domain".
"""

from .cpp_types import CPP_TYPES
from .naming import member_name, pascal, snake


class Field:
    """One method argument: its name in the definition and in C++, wire type and default."""

    def __init__(self, spec_name, amqp_type, default):
        self.spec_name = spec_name
        self.name = member_name(spec_name)
        self.type = amqp_type
        self.default = default


class Method:
    """One method of a class, with the names the generated struct and functions use."""

    def __init__(self, cls, spec):
        self.class_name = cls["name"]
        self.class_id = cls["id"]
        self.name = spec["name"]
        self.id = spec["id"]
        self.full_name = f"{self.class_name}.{self.name}"
        self.struct = pascal(self.class_name) + pascal(self.name)
        self.snake = snake(self.class_name) + "_" + snake(self.name)
        self.synchronous = bool(spec.get("synchronous", False))
        self.content = bool(spec.get("content", False))
        self.fields = []

    def wire_items(self):
        """Fields in wire order, with bit runs grouped: yields Field or list[Field].

        AMQP packs up to eight consecutive bit arguments into one octet; any other argument
        (or a ninth bit) starts a new one. Decoder and encoder both walk this list, so they
        cannot disagree on the packing.
        """
        out, run = [], []
        for f in self.fields:
            if f.type == "bit":
                run.append(f)
                if len(run) == 8:
                    out.append(run)
                    run = []
                continue
            if run:
                out.append(run)
                run = []
            out.append(f)
        if run:
            out.append(run)
        return out


class AmqpClass:
    """One AMQP class and its methods; each class gets its own header, source and test."""

    def __init__(self, name, class_id, methods):
        self.name = name
        self.id = class_id
        self.file = snake(name)
        self.methods = methods


def resolve_type(arg, domains):
    """The wire type of an argument, following domain aliases (which may chain)."""
    amqp_type = arg.get("type") or arg.get("domain")
    seen = set()
    while amqp_type not in CPP_TYPES:
        if amqp_type in seen or amqp_type not in domains:
            raise SystemExit(f"cannot resolve type of argument {arg}")
        seen.add(amqp_type)
        amqp_type = domains[amqp_type]
    return amqp_type


def load_methods(spec):
    """Every method of every class, in definition order, with ids checked to be unique."""
    domains = {name: base for name, base in spec["domains"]}
    methods = []
    for cls in spec["classes"]:
        for m in cls["methods"]:
            method = Method(cls, m)
            for arg in m["arguments"]:
                method.fields.append(
                    Field(arg["name"], resolve_type(arg, domains), arg.get("default-value")))
            methods.append(method)
    keys = [(m.class_id, m.id) for m in methods]
    if len(keys) != len(set(keys)):
        raise SystemExit("duplicate class/method ids in the definition")
    return methods


def load_classes(spec):
    """The definition's classes in order, each with its methods.

    Refuses a class without methods (it would produce empty files) and two classes whose
    file names collide (one would overwrite the other).
    """
    methods = load_methods(spec)
    classes = []
    for c in spec["classes"]:
        own = [m for m in methods if m.class_name == c["name"]]
        if not own:
            raise SystemExit(f"class {c['name']} has no methods")
        classes.append(AmqpClass(c["name"], c["id"], own))
    if len({cls.file for cls in classes}) != len(classes):
        raise SystemExit("two classes map to the same file name")
    return classes
