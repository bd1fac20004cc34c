"""The whole generated tree, as {repository-relative path: text}, from the parsed definition.

Building every file in memory first, and checking each against layout's rules, means that a
failing generator writes nothing and that --check can compare without touching the disk.
"""

from .emit_codec_internal import gen_codec_internal
from .emit_header import gen_class_header, gen_header
from .emit_source import gen_class_source, gen_source
from .emit_tests import TEST_BODY, TEST_SUPPORT, gen_class_test
from .layout import (CODEC_INTERNAL_PATH, METHODS_HEADER_PATH, METHODS_SOURCE_PATH, TEST_PATH,
                     TEST_SUPPORT_PATH, check_file, class_header_path, class_source_path,
                     class_test_path)
from .spec import load_classes


def generate(spec):
    """spec is the definition's JSON as loaded by json.loads."""
    classes = load_classes(spec)
    outputs = {
        METHODS_HEADER_PATH: gen_header(classes),
        METHODS_SOURCE_PATH: gen_source(classes),
        CODEC_INTERNAL_PATH: gen_codec_internal(classes),
        TEST_PATH: TEST_BODY,
        TEST_SUPPORT_PATH: TEST_SUPPORT,
    }
    for cls in classes:
        outputs[class_header_path(cls)] = gen_class_header(cls)
        outputs[class_source_path(cls)] = gen_class_source(cls)
        outputs[class_test_path(cls)] = gen_class_test(cls)
    return {path: check_file(text, path) for path, text in outputs.items()}
