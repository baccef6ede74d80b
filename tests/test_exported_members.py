import hf_ftbuilder


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in dir(hf_ftbuilder) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(hf_ftbuilder, name)).__name__ == "module"}
    assert set(hf_ftbuilder.__all__) == (public - modules) | {"__version__"}
    for name in hf_ftbuilder.__all__:
        assert hasattr(hf_ftbuilder, name)
