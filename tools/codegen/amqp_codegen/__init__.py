"""Generates the AMQP 0-9-1 method structs and their codec from the protocol definition.

Reads RabbitMQ's machine-readable definition (amqp-rabbitmq-0.9.1.json, kept outside the
repository) and writes, split along the definition's classes so that no file grows past the
review limit on file length (layout.MAX_LINES):

  src/amqp/methods.h                      the Method variant, the codec API, MethodStruct
  src/amqp/methods.cc                     decode_method's dispatch, name and content look-ups
  src/amqp/methods/<class>.h              the method structs of one class
  src/amqp/methods/<class>.cc             the decoders and encoders of one class
  src/amqp/methods/codec_internal.h       what those share: ArgReader, bit packing, decoders
  src/amqp/tests/methods_test.cc          round trip and truncation tests, run once per class
  src/amqp/tests/methods_test_support.h   the test fixture and its per-class parameter
  src/amqp/tests/methods_<class>_test.cc  one class's samples, instantiating those tests

The generated files are committed; the build never runs this package. Run
tools/codegen/gen_amqp_methods.py again after changing it, and `--check` (also run by ctest)
verifies that the committed files are what the package produces. Standard library only, so
that any Python 3.9 or later can run it without a virtualenv.

The modules, in the order the data flows through them:

  spec                 loads the definition into AmqpClass / Method / Field, types resolved
  naming               C++ identifiers from the definition's dashed names
  cpp_types            wire type -> C++ type, reader, writer; C++ literals
  layout               where each output goes and the rules every output must obey
  emit_header          methods.h and methods/<class>.h
  emit_codec_internal  methods/codec_internal.h
  emit_source          methods.cc and methods/<class>.cc
  emit_tests           tests/methods_test.cc, methods_test_support.h, methods_<class>_test.cc
  generate             the whole output tree as {path: text}, checked against layout's rules
  cli                  the command line: write the tree, or --check it against the repository
"""
