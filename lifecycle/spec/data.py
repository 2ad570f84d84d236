"""`data`: where training and evaluation data come from, and the contract it must meet."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import Fraction, Identifier, SpecModel

DataFormat = Literal["auto", "parquet", "csv", "arrow", "feather"]
FeatureType = Literal["float", "int", "bool", "category", "string", "timestamp"]


class DataSource(SpecModel):
    path: str = Field(
        min_length=1,
        description="A file or dataset folder: a path relative to the repository root, or a "
        "pyarrow.fs URI (s3://, gs://, hdfs://, file://).",
    )
    format: DataFormat = Field(
        "auto", description="File format; 'auto' infers it from the extension (a folder is "
        "read as a Parquet dataset).")
    columns: list[Identifier] | None = Field(
        None, description="Read only these columns (default: all columns).")
    csv_delimiter: str = Field(",", min_length=1, max_length=1,
                               description="Field delimiter for CSV sources.")


class FeatureContract(SpecModel):
    type: FeatureType = Field(description="Logical type of the column.")
    min: float | None = Field(None, description="Smallest allowed value (numeric types).")
    max: float | None = Field(None, description="Largest allowed value (numeric types).")
    categories: list[str | int] | None = Field(
        None, description="Allowed values (category type); anything else breaks the contract.")
    max_null_fraction: Fraction = Field(
        0.0, description="Largest allowed fraction of nulls in the column (0 = no nulls).")

    @model_validator(mode="after")
    def _check(self) -> FeatureContract:
        numeric = self.type in ("float", "int")
        if (self.min is not None or self.max is not None) and not numeric:
            raise ValueError(f"min/max apply to numeric features, not to type '{self.type}'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.categories is not None and self.type != "category":
            raise ValueError("categories apply only to features of type 'category'")
        if self.type == "category" and self.categories is not None and not self.categories:
            raise ValueError("categories must list at least one value")
        return self


class DataContract(SpecModel):
    label: Identifier = Field(description="Name of the label (target) column.")
    label_type: FeatureType = Field("int", description="Logical type of the label column.")
    features: dict[Identifier, FeatureContract] = Field(
        min_length=1, description="Every feature column the model reads, with its rules.")
    min_rows: int = Field(1, ge=1, description="Fewest rows a source may have.")

    @model_validator(mode="after")
    def _label_not_feature(self) -> DataContract:
        if self.label in self.features:
            raise ValueError(f"the label '{self.label}' is also listed under features")
        return self


class DataSpec(SpecModel):
    train: DataSource = Field(description="Training data.")
    eval: DataSource | None = Field(None, description="Held-out evaluation data for the gates.")
    reference: DataSource | None = Field(
        None, description="Reference data for monitors (default: the training data).")
    contract: DataContract = Field(description="Columns, types, ranges and null limits "
                                   "every source must meet.")
    time_column: Identifier | None = Field(
        None, description="Column of the training data holding each row's event time (a "
        "timestamp, or epoch seconds); a monitor's retrain with recent_data keeps only the "
        "rows this recent.")

    @model_validator(mode="after")
    def _time_column(self) -> DataSpec:
        c = self.time_column
        if c is not None and (c in self.contract.features or c == self.contract.label):
            raise ValueError(f"time_column '{c}' is a feature or the label: it must be a "
                             "column of its own (the model should not learn the date)")
        return self
