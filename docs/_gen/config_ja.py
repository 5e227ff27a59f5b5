"""Japanese text of the config reference: for each section and key, the English the code
holds (``otter/schema.py``) and its translation.

The English is kept beside each translation so that a description changed in the code
is noticed: the Japanese page falls back to the new English for that key, and
``tests/test_docs.py`` fails until the translation here is updated.
"""

from __future__ import annotations

from typing import Dict, Tuple

#: ``Model`` or ``Model.field`` -> (the code's one-line English, its Japanese).
JA: Dict[str, Tuple[str, str]] = {
    "RootConfig": (
        "A whole config: one YAML file in the project's `config/` folder.",
        "設定全体: プロジェクトの `config/` フォルダにある 1 つの YAML ファイルです。",
    ),
    "RootConfig.common": (
        "Settings of the whole run: batch size, input size, seed, and what to restore from.",
        "実行全体の設定: バッチサイズ、入力サイズ、シード、どこから復元するか。",
    ),
    "RootConfig.global_settings": (
        "Merged over the options of every dataset (and wins), e.g. an `image_size` they share.",
        "すべてのデータセットの options に上書きでマージされます (こちらが優先)。例: 共通の `image_size`。",
    ),
    "RootConfig.trainer": (
        "Keyword arguments of `lightning.Trainer`; `logger`, `callbacks` and `default_root_dir` come from Otter.",
        "`lightning.Trainer` のキーワード引数。`logger`、`callbacks`、`default_root_dir` は Otter が設定します。",
    ),
    "RootConfig.model": (
        "The project's LightningModule and its parts (backbone, head, loss, ...).",
        "プロジェクトの LightningModule とその部品 (バックボーン、ヘッド、損失関数など)。",
    ),
    "RootConfig.onnx": (
        "What `to_onnx` exports and how; its problems are warnings for `check` and `train`, errors for `to_onnx`.",
        "`to_onnx` が何をどうエクスポートするか。問題は `check` と `train` では警告、`to_onnx` ではエラーになります。",
    ),
    "RootConfig.dataset": (
        "The training, validation and test datasets, each built by name.",
        "学習・検証・テスト用のデータセット。それぞれ名前で構築されます。",
    ),
    "RootConfig.dataloader": (
        "`DataLoader` keyword arguments per split.",
        "分割ごとの `DataLoader` のキーワード引数。",
    ),
    "RootConfig.optimizer": (
        "Any `torch.optim` optimizer, or one the project registers; `params` are the model's.",
        "`torch.optim` の任意のオプティマイザ、またはプロジェクトが登録したもの。`params` はモデルのパラメータです。",
    ),
    "RootConfig.lr_scheduler": (
        "A `torch.optim.lr_scheduler` scheduler, `PolynomialLRWarmup`, or one the project registers; none: a constant rate.",
        "`torch.optim.lr_scheduler` のスケジューラ、`PolynomialLRWarmup`、またはプロジェクトが登録したもの。"
        "なければ学習率は一定です。",
    ),
    "RootConfig.callbacks": (
        "Lightning callbacks; a `ModelCheckpoint` writing to the run's `checkpoint/` is added when none is listed.",
        "Lightning のコールバック。`ModelCheckpoint` がなければ、実行フォルダの `checkpoint/` に保存するものが追加されます。",
    ),
    "RootConfig.logger": (
        "One logger or a list; default `TensorBoardLogger`; a relative `save_dir` lies in the run folder (`logs`).",
        "ロガー 1 つ、またはそのリスト。既定は `TensorBoardLogger`。相対パスの `save_dir` は実行フォルダの中です (既定 `logs`)。",
    ),
    "CommonSection": (
        "Settings of the whole run: batch size, input size, seed, and what to restore from.",
        "実行全体の設定: バッチサイズ、入力サイズ、シード、どこから復元するか。",
    ),
    "CommonSection.batch_size": (
        "Images per batch; a dataloader's `batch_size` (absent or `-1`) and the progress bar's `unit_scale: -1` take it.",
        "1 バッチの画像数。dataloader の `batch_size` (省略時または `-1`) とプログレスバーの `unit_scale: -1` がこの値になります。",
    ),
    "CommonSection.image_size": (
        "`[height, width]` of the model's input, used (FLOP count, export) when the training dataset's options give none.",
        "モデル入力の `[高さ, 幅]`。学習データセットの options に指定がないとき (FLOP 計測、エクスポート) に使われます。",
    ),
    "CommonSection.is_restore": (
        "Start from the weights of an earlier run: the latest one of this config unless set below.",
        "以前の実行の重みから始めます。以下のキーで指定しなければ、この設定の最新の実行です。",
    ),
    "CommonSection.restore_ind": (
        "The run id to restore (a folder in `runs/<cfg_name>/`); empty: the latest run.",
        "復元する実行の ID (`runs/<cfg_name>/` 内のフォルダ名)。空なら最新の実行です。",
    ),
    "CommonSection.restore_ckpt": (
        "A checkpoint file in that run's `checkpoint/`; empty: `last.ckpt` to restore, the best one to export.",
        "その実行の `checkpoint/` 内のチェックポイントファイル。空なら、復元では `last.ckpt`、エクスポートでは最良のものです。",
    ),
    "CommonSection.restore_cfg": (
        "Restore from a run of this other config (finetuning); empty: this config's runs.",
        "別の設定の実行から復元します (ファインチューニング)。空ならこの設定の実行です。",
    ),
    "CommonSection.restore_all_states": (
        "Continue the run itself, in its own folder: optimizer, scheduler, epoch and step, not only the weights.",
        "重みだけでなく、オプティマイザ・スケジューラ・エポック・ステップも引き継ぎ、同じフォルダでその実行を続けます。",
    ),
    "CommonSection.restore_strict": (
        "Every weight must match the model; `false` loads what matches (e.g. a new head).",
        "すべての重みがモデルと一致する必要があります。`false` なら一致するものだけを読み込みます (新しいヘッドなど)。",
    ),
    "CommonSection.preview_batch": (
        "Kept from the original project's configs, which sized their previews with it; Otter does not read it.",
        "元のプロジェクトの設定でプレビューの枚数に使われていたキーで、互換のために受け付けます。Otter は読みません。",
    ),
    "CommonSection.seed": (
        "Seeds Python, NumPy, torch and the data order; when absent one is drawn and recorded in the run's `config.yaml`.",
        "Python・NumPy・torch の乱数とデータの順序のシード。省略すると自動で選ばれ、実行の `config.yaml` に記録されます。",
    ),
    "ModelSection": (
        "The project's LightningModule, built with the whole config; its parts are the project's own keys.",
        "プロジェクトの LightningModule。設定全体を受け取って構築されます。部品のキーはプロジェクトが決めます。",
    ),
    "ModelSection.name": (
        "The LightningModule: a name in `MODELS` or a class in the project's model module; it takes `cfg`.",
        "LightningModule: `MODELS` に登録された名前、またはプロジェクトの model モジュールのクラス。引数 `cfg` を取ります。",
    ),
    "OnnxSection": (
        "The `onnx:` section: what `to_onnx` exports and how.",
        "`onnx:` セクション: `to_onnx` が何をどうエクスポートするか。",
    ),
    "OnnxSection.name": (
        "The ONNX wrapper (a name in `ONNX_WRAPPERS` or the project's): the model's inference path.",
        "ONNX ラッパー (`ONNX_WRAPPERS` の名前、またはプロジェクトのクラス): モデルの推論経路です。",
    ),
    "OnnxSection.input_shape": (
        "Each input name -> `{shape, dtype}`: the example inputs the export runs.",
        "入力名ごとの `{shape, dtype}`: エクスポート時に実行する入力例です。",
    ),
    "OnnxSection.input_names": (
        "The graph's input names, in the wrapper's argument order; each needs an `input_shape`.",
        "グラフの入力名 (ラッパーの引数の順)。それぞれに `input_shape` が必要です。",
    ),
    "OnnxSection.output_names": (
        "The graph's output names, in the wrapper's return order; distinct from the inputs.",
        "グラフの出力名 (ラッパーの戻り値の順)。入力名とは別の名前にします。",
    ),
    "OnnxSection.dynamic_axes": (
        "An input or output name -> `{axis: label}`: axes that may change size, e.g. `{0: batch_size}`.",
        "入力名または出力名ごとの `{axis: label}`: サイズが変わってよい軸です。例: `{0: batch_size}`。",
    ),
    "OnnxSection.options": (
        "Keyword arguments of `torch.onnx.export` (`opset_version`, `dynamo`, ...), but those Otter sets itself.",
        "`torch.onnx.export` のキーワード引数 (`opset_version`、`dynamo` など)。Otter が自分で設定するものは除きます。",
    ),
    "OnnxSection.additional_meta_info": (
        "Strings, numbers or booleans stored in the file's metadata; Otter's own keys are reserved.",
        "ファイルのメタデータに保存する文字列・数値・真偽値。Otter 自身が使うキーは予約済みです。",
    ),
    "OnnxInput": (
        "One entry of `onnx.input_shape`: `{shape: [1, 3, 224, 224], dtype: float32}`.",
        "`onnx.input_shape` の 1 項目: `{shape: [1, 3, 224, 224], dtype: float32}`。",
    ),
    "OnnxInput.shape": (
        "The example input's shape, positive ints, e.g. `[1, 3, 224, 224]`.",
        "入力例の形状 (正の整数)。例: `[1, 3, 224, 224]`。",
    ),
    "OnnxInput.dtype": (
        "Its dtype: one of `float32`, `float16`, `float64`, `int64`, `int32`, `int16`, `int8`, `uint8`, `bool`.",
        "そのデータ型: `float32`、`float16`、`float64`、`int64`、`int32`、`int16`、`int8`、`uint8`、`bool` のいずれか。",
    ),
    "DatasetSection": (
        "The datasets, each `name` + `options`; `global_settings` is merged over their options.",
        "データセット。それぞれ `name` + `options` で書き、options には `global_settings` が上書きでマージされます。",
    ),
    "DatasetSection.train_options": (
        "The training dataset.",
        "学習用データセット。",
    ),
    "DatasetSection.valid_options": (
        "The validation dataset; without it there is no validation.",
        "検証用データセット。なければ検証は行われません。",
    ),
    "DatasetSection.test_options": (
        'A test dataset: checked like the others, not used by training (`otter.build.make_dataset(cfg, "test")`).',
        'テスト用データセット。ほかと同じく検証されますが、学習では使われません (`otter.build.make_dataset(cfg, "test")`)。',
    ),
    "NamedEntry": (
        "Anything a config builds by name: `name` + `options`.",
        "設定が名前で構築するもの全般: `name` + `options`。",
    ),
    "NamedEntry.name": (
        "What to build: a name in Otter's registry for this section, or a class in the project's modules.",
        "構築するもの: このセクションに対応する Otter のレジストリの名前、またはプロジェクトのモジュールのクラス。",
    ),
    "NamedEntry.options": (
        "Keyword arguments it is built with, checked against its signature (names, required ones, types).",
        "構築時のキーワード引数。シグネチャと照合されます (名前、必須の引数、型)。",
    ),
    "DataloaderSection": (
        "Keyword arguments of each split's `torch.utils.data.DataLoader`.",
        "分割ごとの `torch.utils.data.DataLoader` のキーワード引数。",
    ),
    "DataloaderSection.train_options": (
        "For training: `batch_size` (`-1` or absent: `common.batch_size`), `shuffle`, `num_workers`, ...",
        "学習用: `batch_size` (`-1` または省略で `common.batch_size`)、`shuffle`、`num_workers` など。",
    ),
    "DataloaderSection.valid_options": (
        "For validation, as `train_options`.",
        "検証用。書き方は `train_options` と同じです。",
    ),
    "DataloaderSection.test_options": (
        "For the test split, as `train_options` (for the project's own use).",
        "テスト用。書き方は `train_options` と同じです (プロジェクトが独自に使うためのもの)。",
    ),
    "SchedulerEntry": (
        "The learning-rate scheduler: `name` + `options`, and how Lightning steps it.",
        "学習率スケジューラ: `name` + `options` と、Lightning がそれを進める方法。",
    ),
    "SchedulerEntry.name": (
        "What to build: a name in Otter's registry for this section, or a class in the project's modules.",
        "構築するもの: このセクションに対応する Otter のレジストリの名前、またはプロジェクトのモジュールのクラス。",
    ),
    "SchedulerEntry.options": (
        "Keyword arguments it is built with, checked against its signature (names, required ones, types).",
        "構築時のキーワード引数。シグネチャと照合されます (名前、必須の引数、型)。",
    ),
    "SchedulerEntry.pl_options": (
        "Lightning's scheduler settings: `interval` (`step` or `epoch`), `frequency`, `monitor`, `strict`, `name`.",
        "Lightning のスケジューラ設定: `interval` (`step` または `epoch`)、`frequency`、`monitor`、`strict`、`name`。",
    ),
}
