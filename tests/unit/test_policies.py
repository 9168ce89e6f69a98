"""Policy profiles: the shipped procedures load, are judged against the Code 2024, and bad profiles are refused."""

from __future__ import annotations

import copy

import pytest

from complaints_ledger.adapters import policy_files
from complaints_ledger.domain.errors import PolicyError
from complaints_ledger.domain.policy import Policy, check_against_code

SHIPPED = ["aspire-2017", "broadland-2020", "connexus-2021", "hoc-2024", "ohg-2010"]

TWO_STAGES = "At most two complaint stages"
NO_STAGE_0 = "No informal 'stage 0' before stage 1"
TWELVE_MONTHS = "Complaints accepted up to 12 months after the issue"


def failed_rules(policy: Policy) -> set[str]:
    return {r.rule for r in check_against_code(policy) if not r.passed}


# ------------------------------------------------------------------------------------------------- loading


def test_every_seed_procedure_and_the_code_are_shipped():
    assert policy_files.shipped_names() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_loads_with_a_respond_deadline_at_every_stage(policy, name):
    profile = policy(name)
    assert profile.name == name
    assert profile.stages
    for stage in profile.stages:
        assert stage.milestone("respond") is not None, f"{name} stage {stage.number} has no respond deadline"


def test_stage_counts_follow_the_seed_procedures(policy):
    assert {name: policy(name).last_stage for name in SHIPPED} == {
        "aspire-2017": 2,
        "broadland-2020": 2,
        "connexus-2021": 2,
        "hoc-2024": 2,
        "ohg-2010": 3,
    }


def test_asking_for_a_profile_that_is_not_shipped_names_the_ones_that_are():
    with pytest.raises(PolicyError, match="no policy profile named 'hoc-2099'.*hoc-2024"):
        policy_files.load_shipped("hoc-2099")


def test_the_default_profile_is_the_code_2024():
    assert policy_files.load().name == "hoc-2024"


# ------------------------------------------------------------------------------------- comparison with the Code


def test_the_code_2024_profile_meets_every_rule_of_the_code(policy):
    results = check_against_code(policy("hoc-2024"))
    assert results, "the comparison checked nothing"
    assert [r.rule for r in results if not r.passed] == []


@pytest.mark.parametrize(
    "name, expected_failures",
    [
        ("connexus-2021", {TWELVE_MONTHS}),
        ("ohg-2010", {TWO_STAGES, NO_STAGE_0}),
        ("broadland-2020", {NO_STAGE_0}),
        ("aspire-2017", {NO_STAGE_0, TWELVE_MONTHS}),
    ],
)
def test_each_seed_procedure_falls_short_of_the_code_exactly_where_its_rules_differ(policy, name, expected_failures):
    assert failed_rules(policy(name)) == expected_failures


@pytest.mark.parametrize("name", SHIPPED)
def test_every_rule_checked_cites_its_paragraph_of_the_code(policy, name):
    for result in check_against_code(policy(name)):
        assert result.paragraph.startswith("§"), result
        assert result.detail, result


def test_the_comparison_explains_why_a_rule_failed(policy):
    by_rule = {r.rule: r for r in check_against_code(policy("connexus-2021"))}
    assert by_rule[TWELVE_MONTHS].paragraph == "§2.3"
    assert "3 months" in by_rule[TWELVE_MONTHS].detail
    ohg = {r.rule: r for r in check_against_code(policy("ohg-2010"))}
    assert "3 stages" in ohg[TWO_STAGES].detail


def test_a_stage_1_response_allowed_more_than_ten_working_days_after_acknowledgement_fails_the_code(policy):
    data = copy.deepcopy(policy("hoc-2024").data)
    data["stages"][0]["milestones"][1]["offset"] = 15
    by_rule = {r.rule: r for r in check_against_code(Policy.from_dict(data))}
    rule = by_rule["Stage 1 response within 10 working days of acknowledgement"]
    assert not rule.passed
    assert rule.paragraph == "§6.3"


def test_a_stage_2_extension_cap_over_twenty_working_days_fails_the_code(policy):
    data = copy.deepcopy(policy("hoc-2024").data)
    data["stages"][1]["extension_cap"] = 30
    assert failed_rules(Policy.from_dict(data)) == {"Stage 2 extension no more than 20 working days"}


# ------------------------------------------------------------------------------------------------ content hash


def test_content_hash_is_the_same_each_time_a_profile_is_loaded(policy):
    first, second = policy("hoc-2024"), policy("hoc-2024")
    assert first.content_hash == second.content_hash
    assert len(first.content_hash) == 64
    assert Policy.from_dict(copy.deepcopy(first.data)).content_hash == first.content_hash


def test_content_hash_does_not_depend_on_the_order_of_keys(policy):
    data = policy("hoc-2024").data
    reordered = dict(reversed(list(copy.deepcopy(data).items())))
    assert Policy.from_dict(reordered).content_hash == policy("hoc-2024").content_hash


def test_content_hash_changes_when_a_rule_changes(policy):
    original = policy("hoc-2024")
    data = copy.deepcopy(original.data)
    data["stages"][0]["extension_cap"] = 5
    changed = Policy.from_dict(data)
    assert changed.stage(1).extension_cap == 5
    assert changed.content_hash != original.content_hash
    assert original.stage(1).extension_cap == 10, "editing the copy must not change the loaded profile"


def test_every_shipped_profile_has_its_own_content_hash(policy):
    hashes = {policy(name).content_hash for name in SHIPPED}
    assert len(hashes) == len(SHIPPED)


# ------------------------------------------------------------------------------------------- malformed profiles


@pytest.fixture
def hoc_data(policy):
    return copy.deepcopy(policy("hoc-2024").data)


def test_a_stage_without_a_respond_milestone_is_refused(hoc_data):
    hoc_data["stages"][1]["milestones"] = hoc_data["stages"][1]["milestones"][:1]
    with pytest.raises(PolicyError, match=r"'hoc-2024', stage 2: every stage needs a 'respond' milestone"):
        Policy.from_dict(hoc_data)


def test_a_milestone_anchored_on_a_later_milestone_is_refused(hoc_data):
    acknowledge, respond = hoc_data["stages"][0]["milestones"]
    hoc_data["stages"][0]["milestones"] = [respond, acknowledge]  # respond anchored on 'acknowledged', listed first
    with pytest.raises(PolicyError, match=r"stage 1: milestone 'respond' is anchored on 'acknowledged'.*received"):
        Policy.from_dict(hoc_data)


def test_a_misspelt_anchor_is_refused(hoc_data):
    hoc_data["stages"][0]["milestones"][0]["anchor"] = "recieved"
    with pytest.raises(PolicyError, match="anchored on 'recieved'"):
        Policy.from_dict(hoc_data)


def test_an_unknown_calendar_is_refused_with_the_choices(hoc_data):
    hoc_data["calendar"] = "wales-only"
    with pytest.raises(PolicyError, match="calendar 'wales-only' is not one of: england-and-wales, scotland"):
        Policy.from_dict(hoc_data)


def test_an_unknown_panel_role_is_refused(hoc_data):
    hoc_data["stages"][1]["panel"] = {"mayor": 1}
    with pytest.raises(PolicyError, match="panel role 'mayor' is not one of: chief-executive"):
        Policy.from_dict(hoc_data)


def test_a_hearing_deadline_without_a_panel_is_refused(hoc_data):
    hoc_data["stages"][1]["milestones"].insert(1, {"milestone": "hearing", "anchor": "escalated", "offset": 10})
    with pytest.raises(PolicyError, match="stage 2: a hearing milestone needs a panel"):
        Policy.from_dict(hoc_data)


def test_a_negative_offset_is_refused(hoc_data):
    hoc_data["stages"][0]["milestones"][0]["offset"] = -1
    with pytest.raises(PolicyError, match="'acknowledge' has a negative offset"):
        Policy.from_dict(hoc_data)


def test_an_unknown_refusal_reason_is_refused(hoc_data):
    hoc_data["refusal_reasons"] = ["out-of-time", "too-busy"]
    with pytest.raises(PolicyError, match="refusal reason 'too-busy'"):
        Policy.from_dict(hoc_data)


def test_a_profile_missing_its_version_says_what_is_missing(hoc_data):
    del hoc_data["version"]
    with pytest.raises(PolicyError, match="policy profile 'hoc-2024' is malformed: missing 'version'"):
        Policy.from_dict(hoc_data)


def test_a_profile_with_no_stages_is_refused(hoc_data):
    hoc_data["stages"] = []
    with pytest.raises(PolicyError, match="has no stages"):
        Policy.from_dict(hoc_data)


def test_a_profile_file_that_is_not_toml_is_refused_with_its_path(tmp_path):
    bad = tmp_path / "landlord.toml"
    bad.write_text("name = 'x'\nstages = [[[", encoding="utf-8")
    with pytest.raises(PolicyError, match="landlord.toml is not valid TOML"):
        policy_files.load_file(bad)
