import pytest

from helpers.profiles import DEFAULT_PROFILE, ENV_VAR, PROFILES, get_profile


def test_default_profile_is_workshop(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert get_profile().name == DEFAULT_PROFILE == "workshop"


@pytest.mark.parametrize("name", ["smoke", "workshop", "full", " Smoke ", "FULL"])
def test_every_valid_name_from_the_environment(monkeypatch, name):
    monkeypatch.setenv(ENV_VAR, name)
    assert get_profile().name == name.strip().lower()


def test_unknown_profile_lists_the_valid_ones(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "fast")
    with pytest.raises(ValueError, match=r"Unknown run profile 'fast'.*'smoke', 'workshop', 'full'"):
        get_profile()


def test_explicit_argument_wins_over_environment(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "full")
    assert get_profile("smoke").name == "smoke"


def test_profiles_grow_from_smoke_to_full():
    smoke, workshop, full = PROFILES["smoke"], PROFILES["workshop"], PROFILES["full"]
    assert smoke.dataset == "sample" and workshop.dataset == full.dataset == "full"
    assert smoke.cnn_epochs <= workshop.cnn_epochs <= full.cnn_epochs
    assert smoke.attack_size <= workshop.attack_size <= full.attack_size
    assert smoke.nsl_epochs <= workshop.nsl_epochs <= full.nsl_epochs
    for profile in PROFILES.values():
        assert profile.vgg_image_size >= 32
        assert profile.epsilons[0] == 0.0 and list(profile.epsilons) == sorted(profile.epsilons)
