"""The server's routes against a real server on loopback: the three protocols, errors,
tokens, feedback, metrics and health."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
from served import LiveServer, Served, classifier

import shipyard

ROW = {"carrier": "B6", "distance": 1065, "temp": 61.0}


def _expected(rows: list[dict[str, Any]]) -> list[str]:
    model, _ = classifier()
    import pandas as pd

    return list(model.predict(pd.DataFrame(rows)))


def _error(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()["error"]
    assert set(body) >= {"type", "message", "details"}
    return body


# -- the native protocol --------------------------------------------------------------------


def test_native_records_and_columns_give_the_models_answers(
    client: httpx.Client, served: Served
) -> None:
    rows = served.rows[:5]
    by_records = client.post("/v1/endpoints/delays/predict", json={"records": rows}).json()
    columns = {key: [row[key] for row in rows] for key in rows[0]}
    by_columns = client.post("/v1/endpoints/delays/predict", json={"columns": columns}).json()
    assert by_records["predictions"] == by_columns["predictions"] == _expected(rows)
    assert by_records["classes"] == ["late", "on_time"]
    assert np.allclose(np.sum(by_records["probabilities"], axis=1), 1.0)
    assert by_records["model"] == {"name": "delays", "version": 1, "role": "primary"}
    assert len(set(by_records["prediction_ids"])) == 5


def test_client_ids_become_the_prediction_ids(client: httpx.Client, served: Served) -> None:
    body = {"records": served.rows[:2], "ids": ["order-1", "order-2"]}
    answer = client.post("/v1/endpoints/delays/predict", json=body)
    assert answer.json()["prediction_ids"] == ["order-1", "order-2"]
    assert answer.headers["X-Shipyard-Model-Version"] == "1"


def test_a_regressor_answers_without_probabilities(client: httpx.Client) -> None:
    answer = client.post(
        "/v1/endpoints/minutes/predict", json={"records": [{"distance": 1000, "temp": 50.0}]}
    ).json()
    assert answer["predictions"] == [pytest.approx(100.0)]
    assert "probabilities" not in answer


# -- MLflow scoring ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())]}},
        {"dataframe_records": [ROW]},
        {"instances": [ROW]},
        {"inputs": {key: [value] for key, value in ROW.items()}},
    ],
    ids=["dataframe_split", "dataframe_records", "instances", "inputs"],
)
def test_mlflow_json_formats(client: httpx.Client, body: dict[str, Any]) -> None:
    answer = client.post("/v1/endpoints/delays/invocations", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": _expected([ROW])}


def test_mlflow_csv_and_the_root_invocations(
    served: Served, live: Callable[..., LiveServer]
) -> None:
    served.store = shipyard.Store.from_settings(
        served.store.settings.model_copy(update={"default_endpoint": "delays"})
    )
    server = live()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(ROW))
    writer.writeheader()
    writer.writerows(served.rows[:3])
    answer = httpx.post(
        f"{server.url}/invocations",
        content=buffer.getvalue(),
        headers={"Content-Type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": _expected(served.rows[:3])}
    assert httpx.get(f"{server.url}/ping").status_code == 200


# -- the Open Inference Protocol, with tritonclient ------------------------------------------


def _triton_inputs(rows: list[dict[str, Any]], binary: bool) -> list[Any]:
    carrier = np.array([r["carrier"].encode() for r in rows], dtype=np.object_)
    distance = np.array([r["distance"] for r in rows], dtype=np.int64)
    temp = np.array([r["temp"] for r in rows], dtype=np.float64)
    inputs = []
    for name, array, datatype in (
        ("carrier", carrier, "BYTES"),
        ("distance", distance, "INT64"),
        ("temp", temp, "FP64"),
    ):
        tensor = triton.InferInput(name, [len(rows)], datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    return inputs


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tritonclient_talks_to_the_server(
    served: Served, live: Callable[..., LiveServer], binary: bool
) -> None:
    server = live()
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("delays")
        metadata = client.get_model_metadata("delays")
        assert [i["name"] for i in metadata["inputs"]] == ["carrier", "distance", "temp"]
        assert [i["datatype"] for i in metadata["inputs"]] == ["BYTES", "INT64", "FP64"]
        rows = served.rows[:4]
        outputs = [
            triton.InferRequestedOutput("prediction", binary_data=binary),
            triton.InferRequestedOutput("proba_late", binary_data=binary),
        ]
        result = client.infer("delays", _triton_inputs(rows, binary), outputs=outputs)
        labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("prediction")]
        assert labels == _expected(rows)
        assert result.as_numpy("proba_late").shape == (4,)
        assert result.get_response()["model_version"] == "1"
    finally:
        client.close()


def test_v2_errors_are_4xx(client: httpx.Client) -> None:
    assert client.get("/v2/models/nope").status_code == 404
    bad = {"inputs": [{"name": "carrier", "shape": [1], "datatype": "FP64", "data": [1.0]}]}
    body = _error(client.post("/v2/models/delays/infer", json=bad), 400)
    assert "carrier" in body["message"]


# -- bad input: 4xx naming the problem, never a 500 ------------------------------------------


def test_bad_requests_get_a_4xx_naming_the_problem(client: httpx.Client) -> None:
    url = "/v1/endpoints/delays/predict"
    assert "not valid JSON" in _error(client.post(url, content=b"{nope"), 400)["message"]
    unknown = _error(client.post("/v1/endpoints/nope/predict", json={"records": [ROW]}), 404)
    assert "delays" in unknown["message"]
    wrong = _error(
        client.post(url, json={"records": [{**ROW, "distance": "far"}, {**ROW, "temp": None}]}),
        400,
    )
    assert {(d["column"], d["row"]) for d in wrong["details"]} == {("distance", 0), ("temp", 1)}
    missing = _error(client.post(url, json={"records": [{"carrier": "AA"}]}), 400)
    assert {d["column"] for d in missing["details"]} == {"distance", "temp"}


def test_extra_columns_are_refused_unless_the_setting_says_ignore(
    served: Served, live: Callable[..., LiveServer]
) -> None:
    body = {"records": [{**ROW, "tail": "N1"}]}
    strict = live()
    answer = httpx.post(f"{strict.url}/v1/endpoints/delays/predict", json=body)
    assert "tail" in _error(answer, 400)["message"]
    served.store = shipyard.Store.from_settings(
        served.store.settings.model_copy(update={"extra_columns": "ignore"})
    )
    lenient = live()
    answer = httpx.post(f"{lenient.url}/v1/endpoints/delays/predict", json=body)
    assert answer.status_code == 200


def test_one_bad_request_in_a_batch_fails_alone(
    served: Served, live: Callable[..., LiveServer]
) -> None:
    import asyncio

    server = live()

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            bodies = [{"records": [ROW]}] * 30 + [{"records": [{**ROW, "temp": "hot"}]}]
            return list(
                await asyncio.gather(
                    *(http.post("/v1/endpoints/delays/predict", json=b) for b in bodies)
                )
            )

    answers = asyncio.run(burst())
    assert [a.status_code for a in answers] == [200] * 30 + [400]
    server.stop()
    # The refused request is logged without inputs, for monitoring's schema violations.
    log = shipyard.prediction_log("delays", store=served.store)
    assert sorted(log["status"].tolist()) == [200] * 30 + [400]
    refused = log[log["status"] == 400].iloc[0]
    assert "temp" in refused["error"]
    assert pd.isna(refused["output.prediction"])
    window = shipyard.monitor("delays", store=served.store).windows[-1]
    assert window.results["quality"]["schema_violations"] == 1
    assert window.results["operations"]["requests"] == 31
    assert window.results["operations"]["errors"] == 0


def test_a_body_over_the_limit_is_refused(served: Served, live: Callable[..., LiveServer]) -> None:
    served.store = shipyard.Store.from_settings(
        served.store.settings.model_copy(update={"max_body_bytes": 1000})
    )
    server = live()
    answer = httpx.post(f"{server.url}/v1/endpoints/delays/predict", json={"records": [ROW] * 100})
    assert "max_body_bytes" in _error(answer, 413)["message"]


def test_a_model_that_raises_is_a_500_and_the_server_stays_up(
    served: Served, live: Callable[..., LiveServer]
) -> None:
    shipyard.create_endpoint("broken", "delays/3", store=served.store)
    server = live()
    answer = httpx.post(f"{server.url}/v1/endpoints/broken/predict", json={"records": [ROW]})
    body = _error(answer, 500)
    assert body["type"] == "ModelError"
    assert "'broken'" in body["message"]
    assert "version 3" in body["message"]
    ok = httpx.post(f"{server.url}/v1/endpoints/delays/predict", json={"records": [ROW]})
    assert ok.status_code == 200
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'shipyard_model_errors_total{endpoint="broken",version="3"} 1.0' in metrics


# -- tokens ---------------------------------------------------------------------------------


def test_tokens_guard_the_admin_and_prediction_routes(
    served: Served, live: Callable[..., LiveServer]
) -> None:
    served.store = shipyard.Store.from_settings(
        served.store.settings.model_copy(update={"admin_token": "adm", "predict_token": "prd"})
    )
    server = live()
    canary = {"version": 2, "percent": 10}
    url = f"{server.url}/api/endpoints/delays/canary"
    refused = httpx.post(url, json=canary, headers={"Authorization": "Bearer prd"})
    assert _error(refused, 401)["type"] == "UnauthorizedError"
    assert shipyard.get_endpoint("delays", store=served.store).canary_version is None
    allowed = httpx.post(url, json=canary, headers={"Authorization": "Bearer adm"})
    assert allowed.status_code == 200, allowed.text
    predict = f"{server.url}/v1/endpoints/delays/predict"
    assert httpx.post(predict, json={"records": [ROW]}).status_code == 401
    ok = httpx.post(predict, json={"records": [ROW]}, headers={"Authorization": "Bearer prd"})
    assert ok.status_code == 200
    assert httpx.get(f"{server.url}/healthz").status_code == 200


# -- feedback, metrics, health, docs -------------------------------------------------------


def test_feedback_joins_the_prediction_log(served: Served, live: Callable[..., LiveServer]) -> None:
    server = live()
    answer = httpx.post(
        f"{server.url}/v1/endpoints/delays/predict", json={"records": served.rows[:3]}
    )
    ids = answer.json()["prediction_ids"]
    items = [{"prediction_id": ids[0], "label": "late"}, {"prediction_id": ids[1], "label": 1}]
    taken = httpx.post(f"{server.url}/v1/endpoints/delays/feedback", json={"items": items})
    assert taken.json() == {"accepted": 2}
    bad = httpx.post(f"{server.url}/v1/endpoints/delays/feedback", json={"items": [{"x": 1}]})
    assert _error(bad, 400)["details"][0]["row"] == 0
    server.stop()
    log = shipyard.prediction_log("delays", store=served.store).set_index("prediction_id")
    assert log.loc[ids[0], "label"] == "late"
    assert log.loc[ids[1], "label"] in (1, "1")
    assert log.loc[ids[2], "label"] is None or log.loc[ids[2], "label"] != log.loc[ids[2], "label"]


def test_metrics_health_and_docs(client: httpx.Client) -> None:
    for _ in range(3):
        client.post("/v1/endpoints/delays/predict", json={"records": [ROW]})
    text = client.get("/metrics").text
    assert (
        'shipyard_requests_total{endpoint="delays",protocol="native",role="primary",'
        'status="200",version="1"} 3.0'
    ) in text
    assert 'shipyard_request_latency_seconds_count{endpoint="delays",version="1"} 3.0' in text
    assert "shipyard_batch_size_rows_bucket" in text
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["ready"] is True
    assert ready["endpoints"]["delays"] == {"model": "delays", "version": 1}
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/v2/models/{name}/infer" in spec["paths"]


def test_the_framework_routes_answer_like_the_fast_path(
    served: Served, live: Callable[..., LiveServer]
) -> None:
    fast = live()
    app = served.app()
    app.user_middleware.clear()  # no fast path: FastAPI's own prediction routes answer
    plain = LiveServer(app).start()
    try:
        for path, body in [
            ("/v1/endpoints/delays/predict", {"records": [ROW], "ids": ["a"]}),
            ("/v1/endpoints/delays/invocations", {"dataframe_records": [ROW]}),
            ("/v2/models/delays/infer", {"id": "7", "inputs": _v2_json(ROW)}),
            ("/v1/endpoints/delays/predict", {"records": [{"carrier": 1}]}),
        ]:
            one = httpx.post(fast.url + path, json=body)
            two = httpx.post(plain.url + path, json=body)
            assert one.status_code == two.status_code
            assert _without_ids(one.json()) == _without_ids(two.json())
            assert one.headers.get("x-shipyard-model-version") == two.headers.get(
                "x-shipyard-model-version"
            )
    finally:
        plain.stop()


def _v2_json(row: dict[str, Any]) -> list[dict[str, Any]]:
    types = {"carrier": "BYTES", "distance": "INT64", "temp": "FP64"}
    return [
        {"name": key, "shape": [1], "datatype": types[key], "data": [value]}
        for key, value in row.items()
    ]


def _without_ids(body: dict[str, Any]) -> dict[str, Any]:
    body.pop("prediction_ids", None)
    body.get("parameters", {}).pop("prediction_ids", None)
    return body


def test_an_endpoint_switched_to_another_model_answers_with_it(client: httpx.Client) -> None:
    changed = client.patch("/api/endpoints/delays", json={"model": "minutes/1"})
    assert changed.status_code == 200, changed.text
    answer = client.post(
        "/v1/endpoints/delays/predict", json={"records": [{"distance": 1000, "temp": 50.0}]}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"]["name"] == "minutes"
    assert answer.json()["predictions"] == [pytest.approx(100.0)]


def test_a_version_in_the_url_must_be_a_small_whole_number(client: httpx.Client) -> None:
    for version in ["9" * 5000, "x1", "99999999999"]:
        answer = client.post(f"/v2/models/delays/versions/{version}/infer", json={"inputs": []})
        assert _error(answer, 400)["message"].startswith("model version must be")
    missing = client.post("/v2/models/delays/versions/2/infer", json={"inputs": _v2_json(ROW)})
    assert "does not serve version 2" in _error(missing, 404)["message"]


def test_failed_requests_are_counted_by_status(client: httpx.Client) -> None:
    client.post("/v1/endpoints/delays/predict", content=b"{nope")
    client.post("/v1/endpoints/nowhere/predict", json={"records": [ROW]})
    client.post("/v1/endpoints/delays/invocations", json={"dataframe_records": [{"x": 1}]})
    text = client.get("/metrics").text
    assert 'endpoint="delays",protocol="native",role="",status="400",version=""} 1.0' in text
    assert 'endpoint="",protocol="native",role="",status="404",version=""} 1.0' in text
    assert 'endpoint="delays",protocol="mlflow",role="",status="400",version=""} 1.0' in text
