"""What the routes' response models share: the JSON answers predate the models, so a model
documents every field an answer has but never drops or reshapes one (extra fields pass through),
and numbers stay as they are (an integer is not turned into a float)."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Number = int | float
P = TypeVar("P", bound=BaseModel)


class Out(BaseModel):
    """Base of the response models: documents the answer, lets through any field not yet described."""

    model_config = ConfigDict(extra="allow")


class Feature(Out, Generic[P]):
    """A GeoJSON Feature whose properties are P."""

    type: Literal["Feature"]
    geometry: dict[str, Any] | None = Field(description="GeoJSON geometry, null when the record has none")
    properties: P
    id: str | int | None = None


class FeatureCollection(Out, Generic[P]):
    """A GeoJSON FeatureCollection whose features' properties are P (documentation only: the route
    answers with its own GeoJSONResponse)."""

    type: Literal["FeatureCollection"]
    features: list[Feature[P]]


def geojson(model: type[BaseModel], status: int = 200) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route with response_class=GeoJSONResponse: documents its body as `model`."""
    return {status: {"model": model, "description": "GeoJSON (application/geo+json)"}}


def text_body(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route answering with a text document (XML) rather than JSON."""
    return {200: {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}}
