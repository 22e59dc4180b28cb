"""Root of the project's pytest tree.

The tmsbench plugin itself (options, markers, fixtures) is registered through the
``pytest11`` entry point in ``pyproject.toml``, so an installed tmsbench works in any
folder; nothing is registered here, or pytest would load the plugin twice. This file
marks the checkout's root (pytest's rootdir, so ``tests/`` helpers resolve) and is the
place for settings that apply to every test folder of the checkout.
"""
