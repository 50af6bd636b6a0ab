"""The evidence side: the archive's layout and manifests, ``verify`` and the ``report`` pack. Imports
``core/``, the ports and the AWS evidence store (to read a bucket)."""
