"""C++ identifiers from the definition's names, which are lower case with '-' between words.

Kept apart from the emitters because struct, function and member names must agree across
every generated file: methods.h declares what methods/<class>.cc defines and the tests call.
"""

# A member named after an argument must not be one of these. None of the definition's
# arguments is today; the check is there so that a new one fails loudly, not in the compiler.
CPP_KEYWORDS = {
    "alignas", "alignof", "and", "asm", "auto", "bool", "break", "case", "catch", "char",
    "class", "const", "continue", "default", "delete", "do", "double", "else", "enum",
    "explicit", "export", "extern", "false", "float", "for", "friend", "goto", "if", "inline",
    "int", "long", "mutable", "namespace", "new", "not", "operator", "or", "private",
    "protected", "public", "register", "return", "short", "signed", "sizeof", "static",
    "struct", "switch", "template", "this", "throw", "true", "try", "typedef", "union",
    "unsigned", "using", "virtual", "void", "volatile", "while", "xor",
}


def pascal(name):
    """'recover-async' -> 'RecoverAsync': struct names and class_id constants."""
    return "".join(part.capitalize() for part in name.split("-"))


def snake(name):
    """'recover-async' -> 'recover_async': function, member and file names."""
    return name.replace("-", "_")


def member_name(spec_name):
    """The struct member for an argument: its name in snake case, refused if a keyword."""
    name = snake(spec_name)
    if name in CPP_KEYWORDS:
        raise SystemExit(f"field name '{spec_name}' is a C++ keyword; add a rename rule")
    return name
