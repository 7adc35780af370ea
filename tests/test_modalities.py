"""The modality plug-ins: the contract is complete in each, and the registry routes inputs, bundles and folders."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines import modalities
from pipelines.modalities.contract import Modality
from pipelines.settings import FitSettings, load_settings

FIXTURES = Path(__file__).parent / "fixtures" / "saved_by_5eefd4c"


def test_every_registered_modality_implements_the_whole_contract():
    names = [m.name for m in modalities.MODALITIES]
    assert len(set(names)) == len(names) == 3
    for modality in modalities.MODALITIES:
        modality()  # an abstract method left unimplemented would make this raise TypeError
        assert modality.bundle_class.DOCUMENT.endswith(".json")
        assert len(modality.nouns) == 3 and modality.unit
    documents = [m.bundle_class.DOCUMENT for m in modalities.MODALITIES]
    assert len(set(documents)) == len(documents)  # a saved folder names exactly one modality


def test_a_modality_missing_a_method_cannot_be_made():
    class Half(Modality):
        name = "half"

        @classmethod
        def claims(cls, settings):
            return False

    with pytest.raises(TypeError, match="abstract"):
        Half()


def test_the_registry_picks_the_modality_by_input(tmp_path):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(np.full((8, 8), 40 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    table = tmp_path / "rows.csv"
    pd.DataFrame({"a": [1.0, 2.0], "t": ["2026-01-01", "2026-01-02"]}).to_csv(table, index=False)

    def picked(**given):
        return modalities.for_fit(load_settings(FitSettings, None, given)).name

    assert picked(data=str(folder)) == "images"
    assert picked(data=str(table)) == "table"
    assert picked(data=str(table), time_column="t") == "series"
    assert picked(data=str(table), window=16) == "series"


@pytest.mark.parametrize("kind", ["table", "images", "series"])
def test_a_saved_folder_loads_as_its_modality_and_the_bundle_names_it_again(kind):
    bundle = modalities.load_bundle(FIXTURES / kind)
    assert modalities.for_bundle(bundle).name == kind
    assert [m.name for m in modalities.MODALITIES if m.saved_in(FIXTURES / kind)] == [kind]


def test_a_folder_of_no_modality_is_refused_with_what_it_lacks(tmp_path):
    with pytest.raises(ValueError, match="no bundle.json"):
        modalities.load_bundle(tmp_path)
    with pytest.raises(TypeError, match="not the bundle of any modality"):
        modalities.for_bundle(object())
