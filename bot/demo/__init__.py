"""The bundled demo project: a small libvirt-like C library and a sample series against it."""
