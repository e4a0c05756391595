# add_grpc_proto_library(<target> <proto root> <files relative to root>...)
# Generates C++ protobuf + gRPC code with Debian's matching protoc / grpc_cpp_plugin pair.
function(add_grpc_proto_library name root)
  set(gen ${CMAKE_CURRENT_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${gen})
  set(srcs)
  set(outs)
  foreach(rel ${ARGN})
    string(REGEX REPLACE "\\.proto$" "" base ${rel})
    list(APPEND srcs ${root}/${rel})
    list(APPEND outs ${gen}/${base}.pb.cc ${gen}/${base}.pb.h ${gen}/${base}.grpc.pb.cc ${gen}/${base}.grpc.pb.h)
  endforeach()
  add_custom_command(OUTPUT ${outs}
    COMMAND protobuf::protoc --proto_path=${root} --cpp_out=${gen} --grpc_out=${gen}
            --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin> ${srcs}
    DEPENDS ${srcs} protobuf::protoc gRPC::grpc_cpp_plugin VERBATIM)
  add_library(${name} STATIC ${outs})
  target_include_directories(${name} SYSTEM PUBLIC ${gen})
  target_link_libraries(${name} PUBLIC protobuf::libprotobuf gRPC::grpc++)
endfunction()
