# Sourced by the scripts that ask pip for Linux x86-64 wheels of another Python:
# pip matches a manylinux tag exactly, so every glibc level the pins ship for is named.
platforms=()
for tag in manylinux2014 manylinux_2_17 manylinux_2_24 manylinux_2_25 manylinux_2_26 \
           manylinux_2_27 manylinux_2_28 manylinux_2_31 manylinux_2_34 manylinux_2_35; do
  platforms+=(--platform "${tag}_x86_64")
done
