"""The insights service's settings (docs/reference.md#8-insights): file, port, group."""
import pytest

from streams.runtime.settings import SettingError, Settings


def test_defaults_are_under_the_data_dir_and_port_6070():
    settings = Settings.from_env({"STREAMS_DATA_DIR": "/srv/streams", "STREAMS_APP_ID": "acme"})
    assert settings.insights_db_path == "/srv/streams/insights.duckdb"
    assert settings.insights_port == 6070
    assert settings.insights_group_id == "acme-insights"


def test_each_can_be_set():
    settings = Settings.from_env({"STREAMS_INSIGHTS_DB": "/data/i.duckdb", "STREAMS_INSIGHTS_PORT": "7000",
                                  "STREAMS_INSIGHTS_GROUP": "eu-copy", "STREAMS_INSIGHTS_HOST": "0.0.0.0"})
    assert (settings.insights_db_path, settings.insights_port, settings.insights_group_id, settings.insights_host) == \
        ("/data/i.duckdb", 7000, "eu-copy", "0.0.0.0")


def test_a_port_that_is_no_number_names_the_variable():
    with pytest.raises(SettingError) as refused:
        Settings.from_env({"STREAMS_INSIGHTS_PORT": "sixty"})
    assert refused.value.variable == "STREAMS_INSIGHTS_PORT"
