"""`python -m numpyae train --model ksparse`: the k schedule, alpha*k encoding, the dead-unit
counts with and without the schedule, the filter grids, and the schedule's state in the saved
model and the checkpoint."""
import os
import re

import numpyae
from numpyae.apps import train_regularized
from numpyae.apps.cli import main
from numpyae.io.files import read_checkpoint


def _run(tmp_path, capsys, *argv):
    code = main(["train", "--model", "ksparse", "--quiet", "--out", str(tmp_path / "runs"),
                 *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_ksparse_trains_with_the_schedule_and_prints_dead_units_per_k(tmp_path, capsys):
    code, out, err = _run(tmp_path, capsys, "--epochs", "4", "--ks", "5,20")
    assert code == 0, err
    # 1438 training digits in batches of 128: 12 steps per epoch, 48 in all, the first 24
    # lower k from 100 to the target
    assert "over the first half of training (24 steps)" in out
    assert "k at the start of epoch 1: 100, 2: 53, 3: 5, 4: 5" in out
    assert "alpha = 3" in out
    rows = {int(m[1]): (int(m[2]), int(m[3])) for m in
            re.finditer(r"^\s+(\d+)\s+(\d+)\s+(\d+)\s+\d+\.\.\d+\s+\d+\.\.\d+", out, re.M)}
    assert sorted(rows) == [5, 20]
    for k, (dead, dead_unscheduled) in rows.items():
        assert 0 <= dead <= 100 and 0 <= dead_unscheduled <= 100
    assert (f"dead units of 100, k = 5, 20: with the schedule {rows[5][0]}, {rows[20][0]}; "
            f"without it {rows[5][1]}, {rows[20][1]}") in out
    assert "5..5" in out and "15..15" in out and "20..20" in out and "60..60" in out
    assert "exactly k nonzero code units in every held-out example: yes" in out
    assert "exactly min(100, 3k) nonzero code units in every held-out encoding: yes" in out
    (run,) = os.listdir(tmp_path / "runs")
    files = set(os.listdir(tmp_path / "runs" / run))
    assert {"filters_k5.png", "filters_k5_unscheduled.png", "filters_k20.png",
            "filters_k20_unscheduled.png", "model_k5.npz", "model_k20.npz"} <= files
    model = numpyae.load(tmp_path / "runs" / run / "model_k5.npz")
    assert (model.schedule_steps, model.step, model.k_start, model.alpha) == (24, 48, 100, 3.0)
    assert model.code_layer.k == 5 and model.inference_k == 15


def test_ksparse_with_one_epoch_schedules_within_it(tmp_path, capsys):
    code, out, err = _run(tmp_path, capsys, "--epochs", "1", "--ks", "3")
    assert code == 0, err
    assert "over the first half of training (6 steps)" in out
    assert "3..3" in out and "9..9" in out


def test_ksparse_checkpoint_holds_the_schedule_step(tmp_path, capsys):
    ck = tmp_path / "ks.npz"
    code, out, err = _run(tmp_path, capsys, "--epochs", "2", "--ks", "5", "--checkpoint",
                          str(ck))
    assert code == 0, err
    saved = read_checkpoint(ck)
    assert saved.epoch == 2 and saved.model.step == 24 and saved.model.code_layer.k == 5
    assert saved.model.schedule_steps == 12


def _report(out):
    """The printed report without its run-folder line (the folder name has the time in it)."""
    return [line for line in out.splitlines() if not line.startswith("run folder:")]


def test_ksparse_interrupted_and_resumed_run_prints_the_same_numbers(tmp_path, capsys,
                                                                     monkeypatch):
    """Ctrl-C at the end of epoch 2 of 3 (the checkpoint holds epoch 1, mid-schedule: step 12
    of the 18 that lower k, k = 37), then --resume with the same flags: the report of an
    uninterrupted run."""
    flags = ["--epochs", "3", "--ks", "5"]
    code, straight, err = _run(tmp_path, capsys, *flags)
    assert code == 0, err

    class CtrlC(numpyae.Callback):
        def on_epoch_end(self, epoch, logs, model, history):
            if epoch == 1 and model.schedule_steps:          # the scheduled model only
                raise KeyboardInterrupt

    real_fit = train_regularized.fit
    monkeypatch.setattr(train_regularized, "fit",
                        lambda *a, **kw: real_fit(*a, callbacks=[CtrlC()], **kw))
    ck = tmp_path / "ks.npz"
    code, _, err = _run(tmp_path, capsys, *flags, "--checkpoint", str(ck))
    assert code == 130 and "--resume" in err
    saved = read_checkpoint(ck)
    assert saved.epoch == 1 and saved.model.step == 12 and saved.model.code_layer.k == 37
    monkeypatch.setattr(train_regularized, "fit", real_fit)
    code, resumed, err = _run(tmp_path, capsys, *flags, "--resume", str(ck))
    assert code == 0, err
    assert _report(resumed) == _report(straight)


def test_ksparse_resume_with_other_epochs_is_refused_naming_the_schedule(tmp_path, capsys):
    """--epochs sets the schedule's length, so a resume with other --epochs would train a
    different model: refused, naming schedule_steps, before any training."""
    ck = tmp_path / "ks.npz"
    assert _run(tmp_path, capsys, "--epochs", "2", "--ks", "5", "--checkpoint", str(ck))[0] == 0
    code, out, err = _run(tmp_path, capsys, "--epochs", "4", "--ks", "5", "--resume", str(ck))
    assert code == 1
    assert "schedule_steps: 12 in the checkpoint, 24 in this run" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
