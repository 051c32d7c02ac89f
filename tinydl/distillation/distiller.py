"""Distiller: a Model that trains `student` from labels and a frozen `teacher` (Keras 3.15's semantics)."""
from tinydl import metrics as metrics_mod
from tinydl import ops, saving, tree
from tinydl.distillation import distillation_loss as _losses
from tinydl.distillation.distillation_loss import _convert_loss_to_function
from tinydl.models.data_adapter import batch_size_of
from tinydl.models.model import Model


class Distiller(Model):
    """total = student_loss_weight * student_loss + (1 - student_loss_weight) * sum(w_i * distillation_loss_i).

    `call` is the student's; the teacher is frozen (`trainable = False`) and runs in inference mode.
    """

    def __init__(self, teacher, student, distillation_losses, distillation_loss_weights=None,
                 student_loss_weight=0.5, name="distiller", **kwargs):
        super().__init__(name=name, **kwargs)
        self._validate_models(teacher, student)
        self.teacher = teacher
        self.student = student
        if isinstance(student_loss_weight, bool) or not isinstance(student_loss_weight, (int, float)):
            raise ValueError(f"student_loss_weight must be a number, got {type(student_loss_weight)}")
        if student_loss_weight < 0.0 or student_loss_weight > 1.0:
            raise ValueError(f"student_loss_weight must be between 0.0 and 1.0, got {student_loss_weight}")
        self.student_loss_weight = student_loss_weight
        if distillation_losses is None:
            raise ValueError("'distillation_losses' cannot be `None`. Provide a distillation loss (e.g., "
                             "LogitsDistillation or FeatureDistillation) or a list of distillation losses.")
        if not isinstance(distillation_losses, (list, tuple)):
            self.distillation_losses = [distillation_losses]
            self.distillation_loss_weights = [1.0]
        else:
            self.distillation_losses = list(distillation_losses)
            if distillation_loss_weights is None:
                self.distillation_loss_weights = [1.0] * len(distillation_losses)
            else:
                if len(distillation_loss_weights) != len(distillation_losses):
                    raise ValueError(f"Number of distillation_loss_weights ({len(distillation_loss_weights)}) "
                                     f"must match number of distillation_losses ({len(distillation_losses)})")
                self.distillation_loss_weights = list(distillation_loss_weights)
        for distillation_loss in self.distillation_losses:
            distillation_loss.validate_model_compatibility(teacher, student)
        self._teacher_layer_names = self._layer_names("teacher_layer_name")
        self._student_layer_names = self._layer_names("student_layer_name")
        for model, names in ((teacher, self._teacher_layer_names), (student, self._student_layer_names)):
            if names and getattr(model, "inputs", None) is None:
                raise ValueError(f"Cannot create feature extractor for {model.name}. The model has no symbolic "
                                 f"inputs attribute.")
        self.teacher.trainable = False
        self.student_loss_tracker = metrics_mod.Mean(name="student_loss")
        self.distillation_loss_tracker = metrics_mod.Mean(name="distillation_loss")
        self.total_loss_tracker = metrics_mod.Mean(name="total_loss")

    # -- validation ----------------------------------------------------------------------------
    def _validate_models(self, teacher, student):
        for role, model in (("Teacher", teacher), ("Student", student)):
            if not isinstance(model, Model):
                raise ValueError(f"{role} must be a keras.Model, got {type(model)}")
        t_in, s_in = getattr(teacher, "inputs", None), getattr(student, "inputs", None)
        t_out, s_out = getattr(teacher, "outputs", None), getattr(student, "outputs", None)
        if t_in is not None and s_in is not None:
            tree.map_structure(lambda a, b: self._assert_shapes(a.shape, b.shape, "input"), t_in, s_in)
        if t_out is not None and s_out is not None:
            tree.map_structure(lambda a, b: self._assert_shapes(a.shape, b.shape, "output"), t_out, s_out)
        if t_in is not None and s_in is not None:
            tree.map_structure(lambda a, b: self._assert_dtype(a.dtype, b.dtype, "input"), t_in, s_in)
            if t_out is not None and s_out is not None:
                tree.map_structure(lambda a, b: self._assert_dtype(a.dtype, b.dtype, "output"), t_out, s_out)

    @staticmethod
    def _assert_shapes(shape1, shape2, context):
        shape1, shape2 = tuple(shape1), tuple(shape2)
        if len(shape1) != len(shape2):
            raise ValueError(f"Teacher and student {context} shapes have different dimensions. "
                             f"Teacher: {shape1}, Student: {shape2}.")
        for a, b in zip(shape1, shape2):
            if a is not None and b is not None and a != b:
                raise ValueError(f"Teacher and student {context} shapes are incompatible. Teacher: {shape1}, "
                                 f"Student: {shape2}. All dimensions must match.")

    @staticmethod
    def _assert_dtype(dtype1, dtype2, context):
        if str(dtype1) != str(dtype2):
            raise ValueError(f"Teacher and student {context} dtypes must match. Teacher: {dtype1}, "
                             f"Student: {dtype2}.")

    def _layer_names(self, attr):
        names = []
        for distillation_loss in self.distillation_losses:
            name = getattr(distillation_loss, attr, None)
            if name and name not in names:
                names.append(name)
        return names

    # -- features ------------------------------------------------------------------------------
    @staticmethod
    def _features(model, x, names, training):
        """{'final_output': outputs, layer name: that layer's output} from one forward pass of `model`."""
        if not names:
            return {"final_output": model(x, training=training)}
        captured, originals = {}, {}
        for name in names:
            layer = model.get_layer(name=name)
            originals[name] = (layer, layer.call)

            def capture(*args, _call=layer.call, _name=name, **kwargs):
                out = _call(*args, **kwargs)
                captured[_name] = out
                return out
            layer.call = capture
        try:
            final = model(x, training=training)
        finally:
            for layer, call in originals.values():
                if layer.__dict__.get("call") is not None:
                    del layer.call
        return {"final_output": final, **captured}

    @staticmethod
    def _pick(distillation_loss, features, attr):
        name = getattr(distillation_loss, attr, None) or "final_output"
        if name not in features:
            raise ValueError(f"Layer '{name}' not found in extracted features. Available: {list(features)}")
        return features[name]

    # -- Model API -----------------------------------------------------------------------------
    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """`loss` is the student's supervised loss (required); metrics must be a list or tuple."""
        if loss is None:
            raise ValueError("'loss' cannot be `None`.")
        self._student_loss = tree.map_structure(_convert_loss_to_function, loss)
        self._student_loss_for_serialization = loss
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise ValueError(f"metrics must be a list or tuple, got {type(metrics)}")
        super().compile(optimizer=optimizer, loss=None, metrics=metrics, **kwargs)

    def call(self, inputs, training=None, **kwargs):
        return self.student(inputs, training=training, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The combined loss (sample_weight unused, as Keras); updates the loss and three distillation trackers."""
        self._require_compiled("compute_loss")
        if y_pred is None:
            y_pred = self(x, training=training)
        self._build_compiled(y, y_pred)
        student_loss = 0.0
        if self.student_loss_weight > 0.0 and y is not None:
            values = tree.flatten(tree.map_structure(lambda fn, t, p: fn(t, p), self._student_loss, y, y_pred))
            student_loss = ops.sum(ops.stack(values)) if len(values) > 1 else values[0]
            if len(getattr(student_loss, "shape", ())) > 0:
                student_loss = ops.mean(student_loss)
        distillation_loss = 0.0
        if self.student_loss_weight < 1.0:
            teacher_features = self._features(self.teacher, x, self._teacher_layer_names, training=False)
            student_features = ({"final_output": y_pred} if not self._student_layer_names else
                                self._features(self.student, x, self._student_layer_names, training=True))
            for fn, weight in zip(self.distillation_losses, self.distillation_loss_weights):
                if getattr(fn, "teacher_layer_name", None) is not None:
                    try:
                        teacher_out = self._pick(fn, teacher_features, "teacher_layer_name")
                        student_out = self._pick(fn, student_features, "student_layer_name")
                    except ValueError as e:
                        raise RuntimeError(
                            f"Failed to extract features for {type(fn).__name__} targeting teacher layer "
                            f"'{fn.teacher_layer_name}' and student layer '{fn.student_layer_name}'. "
                            f"Original error: {e}") from e
                else:
                    teacher_out, student_out = teacher_features["final_output"], y_pred
                fn.validate_outputs(teacher_out, student_out)
                value = fn.compute_loss(teacher_out, student_out)
                if len(getattr(value, "shape", ())) > 0:
                    raise ValueError(f"Distillation loss {type(fn).__name__} returned a non-scalar loss with shape "
                                     f"{tuple(value.shape)}. The compute_loss method must return a scalar tensor.")
                distillation_loss = ops.add(distillation_loss, ops.multiply(weight, value))
        total_loss = ops.add(ops.multiply(self.student_loss_weight, student_loss),
                             ops.multiply(1.0 - self.student_loss_weight, distillation_loss))
        self.student_loss_tracker.update_state(student_loss)
        self.distillation_loss_tracker.update_state(distillation_loss)
        self.total_loss_tracker.update_state(total_loss)
        self._compiled.loss_tracker.update_state(total_loss, sample_weight=batch_size_of(x))
        return total_loss

    def _build_compiled(self, y, y_pred):
        """Let the compiled metrics match the outputs (compiled without a loss, as Keras's Distiller)."""
        compiled = self._compiled
        if compiled.built:
            return
        compiled.loss_arg = self._student_loss_for_serialization
        compiled.build(self, y, y_pred)
        compiled.loss_arg = None
        compiled.losses = [None] * len(compiled.losses)

    @property
    def metrics(self):
        return super().metrics + [self.student_loss_tracker, self.distillation_loss_tracker, self.total_loss_tracker]

    def reset_metrics(self):
        super().reset_metrics()
        for tracker in (self.student_loss_tracker, self.distillation_loss_tracker, self.total_loss_tracker):
            tracker.reset_state()

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        config.update({
            "teacher": saving.serialize_keras_object(self.teacher),
            "student": saving.serialize_keras_object(self.student),
            "distillation_losses": [_serialize_distillation_loss(d) for d in self.distillation_losses],
            "distillation_loss_weights": self.distillation_loss_weights,
            "student_loss_weight": self.student_loss_weight,
        })
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["teacher"] = saving.deserialize_keras_object(config["teacher"], custom_objects=custom_objects)
        config["student"] = saving.deserialize_keras_object(config["student"], custom_objects=custom_objects)
        config["distillation_losses"] = [_deserialize_distillation_loss(d, custom_objects)
                                         for d in config["distillation_losses"]]
        return cls(**config)


def _serialize_distillation_loss(obj):
    return {"module": "keras.distillation", "class_name": type(obj).__name__, "config": obj.get_config(),
            "registered_name": None}


def _deserialize_distillation_loss(config, custom_objects=None):
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or getattr(_losses, name, None)
    if cls is None:
        raise ValueError(f"Unknown distillation loss: '{name}'")
    return cls.from_config(config["config"])
